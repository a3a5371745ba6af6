"""The robust AAE with training-set refinement (aae_itsr) and the distorter autoencoder
(distorter_ae): the properties their designs promise, beyond the shared contract tests."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from core.models.aae_itsr import AaeItsr
from core.models.base import Cancelled, to_tensor
from core.models.distorter_ae import DistorterAe


@pytest.fixture(scope="module")
def digits(digits_images):
    return digits_images



def contaminated(images, labels, p=0.1, seed=0):
    """Digit 0 normal, other digits planted so they are a fraction p of the training set."""
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(labels == 0)
    n_anom = int(round(p * len(normal) / (1 - p)))
    anomalies = rng.choice(np.flatnonzero(labels != 0), n_anom, replace=False)
    idx = rng.permutation(np.concatenate([normal, anomalies]))
    return images[idx], labels[idx] != 0


def tiny_itsr(**params) -> AaeItsr:
    torch.manual_seed(0)
    base = {"pretrain_epochs": 2, "refine_epochs": 2, "refinements": 3, "epochs": 2, "hidden": 32, "batch_size": 16, "lr": 1e-3, "nu": 0.05}
    return AaeItsr(1, 16, {**base, **params})


# ---- aae_itsr ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def itsr_run(digits):
    """The quick preset fitted on a 10 %-contaminated digits training set."""
    images, truth = contaminated(*digits)
    torch.manual_seed(0)
    model = AaeItsr(1, 16, AaeItsr.resolve_params({}, "quick"))
    seen = []
    model.fit(images, progress=seen.append, seed=0)
    return model, images, truth, seen


def test_itsr_sets_aside_planted_anomalies(itsr_run):
    model, images, truth, _ = itsr_run
    art = model.artifacts()
    set_aside, weight = art["set_aside"], art["weight"]
    assert set_aside.shape == weight.shape == (len(images),)
    assert np.issubdtype(set_aside.dtype, np.integer) and set_aside.min() >= 0 and set_aside.max() <= model.params["refinements"]
    # a majority of the planted anomalies is set aside ...
    assert (set_aside[truth] > 0).mean() > 0.5
    # ... and far fewer normals: ten steps of ν = 0.03 can set aside at most ≈ 26 % of the set
    assert (set_aside[~truth] > 0).mean() < 0.3
    # weights: 1 if kept, 0 or w_anomaly if set aside, and some got w_anomaly in retraining
    assert np.all(weight[set_aside == 0] == 1)
    assert set(np.unique(weight[set_aside > 0])) <= {0.0, np.float32(model.params["w_anomaly"])}
    assert (weight == np.float32(model.params["w_anomaly"])).sum() >= 1


def test_itsr_progress_counts_all_phases(itsr_run):
    model, _, _, seen = itsr_run
    p = model.params
    total = p["pretrain_epochs"] + p["refinements"] * p["refine_epochs"] + p["epochs"]
    assert model.total_epochs(0) == total
    assert {r.epochs for r in seen} == {total}
    epochs = [r.epoch for r in seen]
    assert epochs == sorted(epochs) and set(epochs) == set(range(1, total + 1))


def test_itsr_score_is_max_of_percentile_ranks(itsr_run, digits):
    model, images, _, _ = itsr_run
    ref = model.infer(images).scores  # the whole training set, as recorded at the end of fit
    query = np.concatenate([images, digits[0][:200]])
    out = model.infer(query)
    rec, nll = out.scores["recon"], out.scores["prior_nll"]
    rank_rec = 100 * (ref["recon"][None, :] <= rec[:, None]).mean(1)
    rank_lik = 100 * ((-ref["prior_nll"])[None, :] <= -nll[:, None]).mean(1)
    np.testing.assert_allclose(out.scores["score"], np.maximum(rank_rec, 100 - rank_lik), atol=1e-3)
    assert list(out.scores) == ["score", "recon", "prior_nll"]
    # prior_nll = −log N(z; 0, I) of the 2-D code
    np.testing.assert_allclose(nll, 0.5 * (out.latent**2).sum(1) + np.log(2 * np.pi), rtol=1e-5)
    # the paper's decision (recon > T_rec or likelihood < T_prior) is score > 90, up to ties at the percentile
    t_rec, t_lik = np.percentile(ref["recon"], 90), np.percentile(-ref["prior_nll"], 10)
    flagged = (rec > t_rec) | (-nll < t_lik)
    assert (flagged == (out.scores["score"] > 90)).mean() > 0.98


def test_itsr_reference_buffers_survive_save_load(itsr_run):
    model, images, _, _ = itsr_run
    assert model.ref_recon.numel() == model.ref_loglik.numel() == len(images)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = AaeItsr(1, 16, model.params)
    assert fresh.ref_recon.numel() == 0
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    torch.testing.assert_close(fresh.ref_recon, model.ref_recon)
    torch.testing.assert_close(fresh.ref_loglik, model.ref_loglik)
    a, b = model.infer(images[:50]), fresh.infer(images[:50])
    for k in a.scores:
        np.testing.assert_array_equal(a.scores[k], b.scores[k])


def test_itsr_refine_false_sets_nothing_aside(digits):
    images, _ = contaminated(*digits)
    model = tiny_itsr(refine=False)
    seen = []
    model.fit(images, progress=seen.append)
    art = model.artifacts()
    assert not art["set_aside"].any() and np.all(art["weight"] == 1)
    # a plain AAE for pretrain_epochs + epochs
    assert model.total_epochs(0) == 4 and seen[-1].epoch == seen[-1].epochs == 4


@pytest.mark.parametrize("stop_at", [1, 4, 8, 9])  # pretraining, refinement 1, refinement 3, retraining
def test_itsr_cancel_in_every_phase(digits, stop_at):
    images = digits[0][:48]
    model = tiny_itsr()
    seen, stop = [], {"now": False}

    def progress(p):
        seen.append(p.epoch)
        stop["now"] = p.epoch >= stop_at

    with pytest.raises(Cancelled):
        model.fit(images, progress=progress, should_stop=lambda: stop["now"])
    assert max(seen) in (stop_at, stop_at + 1)


def test_itsr_caller_weights_combine(digits):
    images, _ = contaminated(*digits)
    images = images[:120]
    user = np.ones(len(images), np.float32)
    user[:6] = -1.0  # user-confirmed anomalies
    model = tiny_itsr(nu=0.1)
    model.fit(images, weights=user)
    art = model.artifacts()
    # confirmed anomalies keep the caller's weight and never enter the SVM's candidate set
    assert np.all(art["weight"][:6] == -1.0) and not art["set_aside"][:6].any()
    assert art["set_aside"][6:].any()
    assert set(np.unique(art["weight"][6:])) <= {1.0, 0.0, np.float32(model.params["w_anomaly"])}
    # the score's references are the images the caller kept, set-aside candidates included
    assert model.ref_recon.numel() == model.ref_loglik.numel() == len(images) - 6
    with pytest.raises(ValueError, match="weights"):
        tiny_itsr().fit(images, weights=user[:10])


def test_itsr_neg_percentile_sets_the_negative_share(digits):
    images, _ = contaminated(*digits)
    images = images[:160]
    arts = {}
    for q in (50.0, 90.0):
        model = tiny_itsr(nu=0.1, neg_percentile=q)
        model.fit(images, seed=3)
        arts[q] = model.artifacts()
    # the same seed sets the same images aside; only the retraining weights differ
    assert np.array_equal(arts[50.0]["set_aside"], arts[90.0]["set_aside"])
    cand = int((arts[50.0]["set_aside"] > 0).sum())
    assert cand >= 20
    for q, art in arts.items():
        negative = int((art["weight"] < 0).sum())
        # errors above the q-th percentile of the set-aside images' errors: (1 - q/100) of them
        assert abs(negative - (1 - q / 100) * cand) <= 1, (q, negative, cand)
    assert AaeItsr.resolve_params({}, "paper")["neg_percentile"] == 80.0


def test_itsr_discriminator_sees_set_aside_codes_only_when_asked(digits):
    from core.models.aae_itsr import disc_weights

    w = torch.tensor([1.0, 0.0, -0.1, 0.5])
    assert disc_weights(w, False).tolist() == [1.0, 0.0, 0.0, 0.5]  # the paper: weight 0 in D's code term too
    assert disc_weights(w, True).tolist() == [1.0, 1.0, 0.0, 0.5]  # set aside: still a code D learns
    # the option changes the fit from the first refinement phase on, not the pretraining before it
    images, _ = contaminated(*digits)
    images = images[:120]
    codes = {}
    for on in (False, True):
        model = tiny_itsr(nu=0.1, disc_sees_set_aside=on, epochs=1, refinements=1)
        model.fit(images, seed=2)
        codes[on] = model.codes(to_tensor(images))[0]
        assert model.training  # codes() measures in eval mode and hands the model back as it was
        np.testing.assert_array_equal(model.artifacts()["weight"], model.phase_weights)
    assert not np.allclose(codes[False], codes[True])
    assert AaeItsr.resolve_params({}, "paper")["disc_sees_set_aside"] is False


def test_itsr_prior_push_moves_negative_codes_out_to_the_prior_boundary(digits):
    import math

    from core.models.aae_itsr import prior_nll_cap

    # in 2-D, N(0, I) puts mass e^(−r²/2) outside radius r: the 95 % boundary is at ½r² = −log 0.05
    assert prior_nll_cap(2) == pytest.approx(-math.log(0.05))
    assert prior_nll_cap(8) > prior_nll_cap(2)
    x = to_tensor(digits[0][:64])
    w = torch.ones(64)
    w[:16] = -0.1
    half_sq = {}
    for push in ("adversarial", "prior"):
        torch.manual_seed(0)
        model = AaeItsr(1, 16, {"hidden": 32, "batch_size": 64, "lr": 1e-3, "neg_push": push})
        for _ in range(200):
            model.train_step(x, w)
        z = model.codes(x)[0]
        half_sq[push] = 0.5 * np.square(z).sum(1)
    # straight up −log N(z; 0, I): the negatives end outside the prior's central 95 %, the kept
    # images inside it; pushed through the discriminator, in as many steps, they stay inside
    assert np.median(half_sq["prior"][:16]) > prior_nll_cap(2) > np.median(half_sq["prior"][16:])
    assert np.median(half_sq["adversarial"][:16]) < prior_nll_cap(2)
    assert AaeItsr.resolve_params({}, "paper")["neg_push"] == "adversarial"


# ---- distorter_ae ------------------------------------------------------------------------
def tiny_distorter(**params) -> DistorterAe:
    torch.manual_seed(0)
    return DistorterAe(1, 16, {"nz": 8, "nf": 8, "lr": 1e-3, **params})


def test_perturbation_respects_budget(digits):
    x = to_tensor(digits[0][:16])
    model = tiny_distorter(eps=0.2)
    z = model.encoder(x)
    for scale in (1.0, 1e4):  # small outputs use part of the budget; saturated ones all of it
        with torch.no_grad():
            model.distorter.final.weight.mul_(scale)
        delta = model.perturb(x, z)
        assert delta.shape == z.shape
        ratio = delta.flatten(1).norm(dim=1) / z.flatten(1).norm(dim=1)
        assert torch.all(ratio <= 0.2 * (1 + 1e-5))
    assert torch.all(ratio > 0.2 * 0.99)
    assert torch.count_nonzero(tiny_distorter(eps=0.0).perturb(x, z)) == 0


def perturbed_error(model: DistorterAe, x: torch.Tensor) -> float:
    """Mean squared error of G(z + δ) with batch statistics (train mode), no update."""
    with torch.no_grad():
        z = model.encoder(x)
        return float((model.decode_perturbed(z, model.perturb(x, z)) - x).square().mean())


def test_distorter_step_increases_perturbed_error(digits):
    x = to_tensor(digits[0][:32])
    model = tiny_distorter(eps=0.5)
    for _ in range(30):  # an autoencoder that reconstructs, so there is something to distort
        model.train_step(x, None)
    ae_before = [p.clone() for p in [*model.encoder.parameters(), *model.decoder.parameters()]]
    errors = [perturbed_error(model, x)]
    for _ in range(15):
        with torch.no_grad():
            z = model.encoder(x)
        loss = model.distorter_step(x, z)
        assert float(loss) == pytest.approx(-errors[-1], rel=1e-4)  # it minimises −(perturbed error)
        errors.append(perturbed_error(model, x))
    assert sum(b > a for a, b in zip(errors, errors[1:])) >= 12
    assert errors[-1] > 1.02 * errors[0]
    # only the distorter moved
    assert all(torch.equal(a, b) for a, b in zip(ae_before, [*model.encoder.parameters(), *model.decoder.parameters()]))


def test_distorter_losses_and_running_stats(digits):
    x = to_tensor(digits[0][:16])
    model = tiny_distorter()
    losses = model.train_step(x, None)
    assert set(losses) == {"loss", "rec", "rec_pert", "dist"}
    assert float(losses["loss"]) == pytest.approx(float(losses["rec"] + model.params["w_pert"] * losses["rec_pert"]), rel=1e-5)
    # decoding perturbed codes leaves the decoder's running statistics to the clean codes
    bns = [m for m in model.decoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [(m.running_mean.clone(), m.running_var.clone()) for m in bns]
    with torch.no_grad():
        z = model.encoder(x)
        model.decode_perturbed(z, model.perturb(x, z))
    assert all(torch.equal(m.running_mean, a) and torch.equal(m.running_var, b) for m, (a, b) in zip(bns, before))
    assert all(m.momentum == 0.1 for m in bns)


def test_distorter_score_is_clean_reconstruction_error(digits):
    images = digits[0][:40]
    model = tiny_distorter()
    for _ in range(5):
        model.train_step(to_tensor(images[:32]), None)
    out = model.infer(images)
    model.eval()
    with torch.no_grad():
        x = to_tensor(images)
        xh = model.decoder(model.encoder(x))
    np.testing.assert_allclose(out.scores["score"], (xh - x).square().flatten(1).mean(1).numpy(), rtol=1e-5, atol=1e-7)
    # the distorter plays no part in scoring
    with torch.no_grad():
        for p in model.distorter.parameters():
            p.normal_()
    np.testing.assert_array_equal(model.infer(images).scores["score"], out.scores["score"])

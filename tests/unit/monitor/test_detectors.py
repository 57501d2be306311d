"""The detectors on synthetic samples whose answer is known: same distribution -> rarely below alpha;
a shifted one -> below alpha."""

import numpy as np
import pytest

from monitor import detectors

ALPHA = 0.05


def gaussian(rng, n, d=32, shift=0.0, scale=1.0):
    return rng.normal(shift, scale, size=(n, d))


def test_mmd_finds_a_mean_shift_and_a_scale_change():
    rng = np.random.default_rng(0)
    reference = gaussian(rng, 800)
    assert detectors.mmd_test(reference, gaussian(rng, 200, shift=0.3), permutations=100).p_value < ALPHA
    assert detectors.mmd_test(reference, gaussian(rng, 200, scale=1.4), permutations=100).p_value < ALPHA


def test_mmd_false_positive_rate_is_near_alpha_on_the_same_distribution():
    rng = np.random.default_rng(1)
    reference = gaussian(rng, 500)
    p_values = [detectors.mmd_test(reference, gaussian(rng, 100), permutations=50, seed=i).p_value for i in range(40)]
    # 40 windows at alpha 0.05: two expected; more than 7 has probability < 0.5% under a calibrated test.
    assert sum(p < ALPHA for p in p_values) <= 7
    assert np.mean(p_values) > 0.3  # roughly uniform, not piled near 0


def test_mmd_sees_a_shift_confined_to_a_low_variance_direction_through_the_pca_scaling():
    rng = np.random.default_rng(2)
    scales = np.r_[np.full(8, 5.0), np.full(8, 0.2)]
    reference = rng.normal(size=(800, 16)) * scales
    window = rng.normal(size=(200, 16)) * scales
    window[:, 12] += 0.3  # 1.5 standard deviations of its component
    assert detectors.mmd_test(reference, window, permutations=100).p_value < ALPHA


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ks_per_output_detects_less_confident_outputs_and_corrects_for_the_classes():
    rng = np.random.default_rng(3)
    names = [str(i) for i in range(10)]
    reference = softmax(rng.normal(size=(1000, 10)) * 3)
    same = detectors.ks_per_output(reference, softmax(rng.normal(size=(300, 10)) * 3), names)
    flatter = detectors.ks_per_output(reference, softmax(rng.normal(size=(300, 10)) * 1.5), names)
    assert not same.drift and flatter.drift
    assert flatter.details["correction"] == "bonferroni"
    assert flatter.p_value == pytest.approx(min(1.0, 10 * min(flatter.details["per_class_p"].values())))


def test_class_mix_chi_square_and_distance():
    names = ["a", "b", "c"]
    reference = np.array([300, 300, 400])
    same = detectors.class_mix_test(reference, np.array([30, 29, 41]), names)
    skewed = detectors.class_mix_test(reference, np.array([70, 10, 20]), names)
    assert not same.drift and skewed.drift
    assert skewed.details["total_variation_distance"] == pytest.approx(0.5 * (0.4 + 0.2 + 0.2))


def test_class_mix_tolerates_a_class_the_reference_never_predicted():
    result = detectors.class_mix_test(np.array([0, 50, 50]), np.array([5, 45, 50]), ["a", "b", "c"])
    assert np.isfinite(result.p_value)


def test_statistics_test_flags_a_brightness_shift_and_rarely_an_unshifted_window():
    rng = np.random.default_rng(4)
    reference = {"brightness": rng.normal(0.45, 0.1, 2000), "contrast": rng.normal(0.2, 0.05, 2000)}

    def window(brightness):
        return {"brightness": rng.normal(brightness, 0.1, 200), "contrast": rng.normal(0.2, 0.05, 200)}

    false_alarms = sum(detectors.statistics_test(reference, window(0.45)).drift for _ in range(30))
    assert false_alarms <= 5  # 1.5 expected at alpha 0.05 (Bonferroni: at most); > 5 has p < 0.5%
    bright = detectors.statistics_test(reference, window(0.55))
    assert (
        bright.drift and bright.details["per_statistic_p"]["brightness"] < bright.details["per_statistic_p"]["contrast"]
    )


def test_quality_accuracy_and_macro_f1():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    q = detectors.quality(labels, predicted, 3)
    assert q["accuracy"] == pytest.approx(4 / 6)
    # per-class F1: 0 -> 2*1/(2+1+1)=0.5, 1 -> 2*2/(4+1)=0.8, 2 -> 2*1/(2+0+1)=2/3
    assert q["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_class_mix_false_positive_rate_stays_near_alpha_when_the_window_is_as_large_as_the_reference():
    """The reference mix is a sample too: a goodness-of-fit test against it as if exact flagged ~40% here."""
    rng = np.random.default_rng(5)
    shares = np.full(10, 0.1)
    names = [str(i) for i in range(10)]
    flagged = sum(
        detectors.class_mix_test(rng.multinomial(600, shares), rng.multinomial(500, shares), names).drift
        for _ in range(100)
    )
    assert flagged <= 11  # 5 expected; more than 11 has p < 1%

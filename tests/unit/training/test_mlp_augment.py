import numpy as np
import pytest
from training.errors import ConfigError
from training.hyperparameters import parse_hyperparameters


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"speed_perturbation": "0.6"}, "'speed_perturbation' must be in \\[0, 0.5\\), got 0.6"),
        ({"speed_perturbation": "-0.1"}, "'speed_perturbation' must be in"),
        ({"noise_snr_db": "loud"}, "'noise_snr_db' must be a number, got 'loud'"),
    ],
)
def test_bad_augmentation_settings_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_hyperparameters({"model": "mlp", **raw})


def test_noise_is_drawn_within_the_requested_snr_range():
    from training.mlp_training import augment_waveforms

    t = np.arange(8000) / 8000
    waves = np.zeros((16, 8000), np.float32)
    waves[:, 2000:6000] = 0.3 * np.sin(2 * np.pi * 300.0 * t[2000:6000])  # silent first and last quarter
    for snr in (20.0, 40.0):
        out = augment_waveforms(waves, np.random.default_rng(0), noise_snr_db=snr, speed=0.1)
        noise = np.mean(out[:, :900] ** 2, axis=1)  # speech starts at >= 977: 10% speed, then 800 samples shift
        measured = 10 * np.log10(np.mean(out**2, axis=1) / noise)
        assert np.all((measured > snr - 1.0) & (measured < snr + 21.0)), measured


def test_speed_perturbation_off_keeps_the_waveform_shape():
    from training.mlp_training import augment_waveforms

    t = np.arange(8000) / 8000
    waves = np.zeros((4, 8000), np.float32)
    waves[:, 2000:6000] = 0.3 * np.sin(2 * np.pi * 300.0 * t[2000:6000])
    out = augment_waveforms(waves, np.random.default_rng(0), noise_snr_db=300.0, speed=0.0)
    for row in out:  # only shifted and scaled: the 300 Hz tone keeps its 4000-sample span
        voiced = np.flatnonzero(np.abs(row) > 1e-3)
        assert 3990 <= voiced[-1] - voiced[0] + 1 <= 4000

import numpy as np
import pytest
from PIL import Image
from training.data.audio import AudioSettings, decode_wav, fit_length, load_audio_channel, load_waveform
from training.data.images import ImageSettings, load_image_folder
from training.data.split import split_train_validation
from training.errors import DataError

from tests.helpers.synthetic import tone, write_audio_class_folders, write_fsdd_folder, write_image_folder, write_wav

AUDIO = AudioSettings(sample_rate=8000, num_samples=8000)


def test_image_folder_loads_sorted_classes_as_uint8_nchw(tmp_path):
    write_image_folder(tmp_path, per_class=4, size=40, classes=("b_dog", "a_cat"), suffix=".jpg")
    data = load_image_folder(tmp_path, ImageSettings(size=32))
    assert data.class_names == ["a_cat", "b_dog"]
    assert data.inputs.shape == (8, 3, 32, 32) and data.inputs.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [4, 4]


def test_grayscale_and_rgba_images_are_converted_to_rgb(tmp_path):
    write_image_folder(tmp_path, per_class=2)
    Image.new("L", (32, 32), 128).save(tmp_path / "circle" / "gray.png")
    Image.new("RGBA", (32, 32), (1, 2, 3, 4)).save(tmp_path / "square" / "alpha.png")
    assert load_image_folder(tmp_path, ImageSettings(size=32)).inputs.shape[1] == 3


def test_a_truncated_image_is_named_or_skipped_and_counted(tmp_path):
    write_image_folder(tmp_path, per_class=3)
    bad = tmp_path / "circle" / "circle_0.png"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DataError, match="circle_0.png: not a readable image"):
        load_image_folder(tmp_path, ImageSettings(size=32))
    data = load_image_folder(tmp_path, ImageSettings(size=32, on_bad_file="skip"))
    assert (len(data), data.skipped) == (8, 1)


def test_an_empty_class_folder_is_named(tmp_path):
    write_image_folder(tmp_path, per_class=2)
    (tmp_path / "zebra").mkdir()
    with pytest.raises(DataError, match="zebra: empty class folder"):
        load_image_folder(tmp_path, ImageSettings(size=32))


def test_a_single_class_is_refused(tmp_path):
    write_image_folder(tmp_path, per_class=2, classes=("only",))
    with pytest.raises(DataError, match="single class \\(only\\)"):
        load_image_folder(tmp_path, ImageSettings(size=32))


def test_a_missing_channel_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere: data channel folder does not exist"):
        load_image_folder(tmp_path / "nowhere", ImageSettings(size=32))


def test_validation_classes_must_be_train_classes(tmp_path):
    write_image_folder(tmp_path, per_class=1, classes=("circle", "unicorn"))
    with pytest.raises(DataError, match="unicorn"):
        load_image_folder(tmp_path, ImageSettings(size=32), class_names=["circle", "square"])


def test_stereo_44k_and_8bit_and_float_wavs_decode_to_the_same_mono_8k_waveform(tmp_path):
    rng = np.random.default_rng(0)
    samples = tone(440.0, rng, rate=44100, seconds=1.0)
    reference = load_waveform(write_wav(tmp_path / "mono.wav", samples, 44100), 8000, 8000)
    stereo = load_waveform(write_wav(tmp_path / "stereo.wav", samples, 44100, channels=2), 8000, 8000)
    floats = load_waveform(write_wav(tmp_path / "float.wav", samples, 44100, dtype="float32"), 8000, 8000)
    eight_bit = load_waveform(write_wav(tmp_path / "u8.wav", samples, 44100, dtype="uint8"), 8000, 8000)
    assert reference.shape == (8000,) and reference.dtype == np.float32
    np.testing.assert_allclose(stereo, reference, atol=1e-4)
    np.testing.assert_allclose(floats, reference, atol=1e-4)
    np.testing.assert_allclose(eight_bit, reference, atol=0.02)
    assert np.abs(reference).max() > 0.3  # the tone survived resampling


def test_clips_are_centre_cut_or_padded_on_both_sides():
    np.testing.assert_array_equal(fit_length(np.arange(10.0), 4), [3, 4, 5, 6])
    np.testing.assert_array_equal(fit_length(np.ones(3), 6), [0, 1, 1, 1, 0, 0])


def test_a_file_that_is_not_a_wav_is_named(tmp_path):
    path = tmp_path / "fake.wav"
    path.write_bytes(b"ID3\x03 this is an mp3, honestly")
    with pytest.raises(DataError, match="fake.wav: not a readable WAV file"):
        decode_wav(path)


def test_free_spoken_digit_names_give_labels_and_speakers(tmp_path):
    write_fsdd_folder(tmp_path, per_speaker=2)
    data = load_audio_channel(tmp_path, AUDIO)
    assert data.class_names == ["high", "low", "mid"]
    assert sorted(set(data.groups)) == ["ann", "bob", "cat"]
    assert data.inputs.shape == (18, 8000)


def test_a_flat_folder_with_other_names_is_refused_with_the_expected_naming(tmp_path):
    write_wav(tmp_path / "recording.wav", np.zeros(100, np.float32), 8000)
    with pytest.raises(DataError, match="recording.wav: .*<label>_<speaker>_<index>.wav"):
        load_audio_channel(tmp_path, AUDIO)


def test_class_folders_and_mixed_sample_rates_load(tmp_path):
    write_audio_class_folders(tmp_path, per_class=2)
    write_wav(tmp_path / "low" / "cd.wav", tone(300.0, np.random.default_rng(1), rate=44100), 44100, channels=2)
    data = load_audio_channel(tmp_path, AUDIO)
    assert data.inputs.shape == (7, 8000) and data.groups is None


def test_npz_features_load_and_bad_shapes_are_named(tmp_path):
    np.savez(tmp_path / "part1.npz", features=np.zeros((4, 61, 20), np.float32), labels=np.array([0, 1, 0, 1]))
    data = load_audio_channel(tmp_path, AUDIO)
    assert data.inputs.shape == (4, 61, 20) and data.class_names == ["0", "1"]
    np.savez(tmp_path / "part2.npz", features=np.zeros((4, 20), np.float32), labels=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError, match="part2.npz: 'features' must be"):
        load_audio_channel(tmp_path, AUDIO)


def test_validation_holds_out_whole_speakers(tmp_path):
    write_fsdd_folder(tmp_path, per_speaker=2)
    train, validation = split_train_validation(load_audio_channel(tmp_path, AUDIO), 0.2, seed=3)
    assert set(train.groups).isdisjoint(validation.groups)
    assert len(set(validation.groups)) == 1


def test_without_speakers_the_split_is_stratified_and_seeded(tmp_path):
    write_image_folder(tmp_path, per_class=10)
    data = load_image_folder(tmp_path, ImageSettings(size=32))
    first = split_train_validation(data, 0.2, seed=1)[1]
    again = split_train_validation(data, 0.2, seed=1)[1]
    assert np.bincount(first.labels).tolist() == [2, 2, 2]
    np.testing.assert_array_equal(first.inputs, again.inputs)


@pytest.mark.parametrize("width, height", [(20_000, 20_000), (6_000, 6_000)])  # past Pillow's bomb limit; past ours
def test_an_image_claiming_too_many_pixels_is_a_bad_file_named_or_skipped(tmp_path, width, height):
    from tests.helpers.hostile import png_claiming

    write_image_folder(tmp_path, per_class=3)
    bomb = tmp_path / "circle" / "bomb.png"
    bomb.write_bytes(png_claiming(width, height))
    with pytest.raises(DataError, match="circle/bomb.png: image is .*over the limit of 25,000,000 pixels"):
        load_image_folder(tmp_path, ImageSettings(size=32))
    data = load_image_folder(tmp_path, ImageSettings(size=32, on_bad_file="skip"))
    assert (len(data), data.skipped) == (9, 1)  # 3 classes x 3 good files, the bomb skipped


@pytest.mark.parametrize(
    "rate, message",
    [
        (2_147_483_647, "2147483647 Hz is outside 1000..768000 Hz"),
        (999, "999 Hz is outside"),
        (767_999, "767999 Hz has no practical ratio to 8000 Hz"),
    ],
)
def test_a_wav_claiming_an_absurd_rate_is_a_bad_file_named_or_skipped(tmp_path, rate, message):
    from tests.helpers.hostile import wav_claiming_rate

    write_audio_class_folders(tmp_path, per_class=3)
    bad = tmp_path / "high" / "absurd.wav"
    bad.write_bytes(wav_claiming_rate(rate))
    with pytest.raises(DataError, match=f"high/absurd.wav: WAV sample rate {message}"):
        load_audio_channel(tmp_path, AUDIO)
    data = load_audio_channel(tmp_path, AudioSettings(8000, 8000, on_bad_file="skip"))
    assert (len(data), data.skipped) == (3 * len(data.class_names), 1)


def test_the_trainer_and_the_server_bound_source_rates_alike():
    from training.data import audio as training

    from inference import audio as serving

    for name in ("MIN_SOURCE_RATE", "MAX_SOURCE_RATE", "MAX_RESAMPLE_FACTOR"):
        assert getattr(training, name) == getattr(serving, name), name
    assert training.MAX_SECONDS == serving.MAX_RESAMPLED_SECONDS

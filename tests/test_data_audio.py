"""Audio loading: channels to mono, PCM/float WAV and FLAC, resampling with soxr HQ, crop/pad, unusable files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from desed_task.data import AudioError, load_audio
from desed_task.data.audio import (
    audio_info,
    check_audio_file,
    check_header,
    fit_length,
    shift_events,
    wav_declared_bytes,
)


def test_multichannel_is_averaged(tmp_path, rng):
    stereo = rng.uniform(-0.5, 0.5, (8000, 3)).astype(np.float32)
    sf.write(tmp_path / "x.wav", stereo, 16000, subtype="FLOAT")
    mono, sr = load_audio(tmp_path / "x.wav", 16000)
    assert sr == 16000 and mono.dtype == np.float32 and mono.shape == (8000,)
    np.testing.assert_allclose(mono, stereo.mean(axis=1), atol=1e-7)


def test_float_wav_pcm_wav_and_flac(tmp_path, data_dir):
    english, sr = load_audio(data_dir / "audio" / "speech_english_10s_float32.wav", 16000)
    raw, _ = sf.read(data_dir / "audio" / "speech_english_10s_float32.wav", dtype="float32")
    assert sr == 16000 and english.shape == (160000,)
    np.testing.assert_array_equal(english, raw)
    mandarin, _ = load_audio(data_dir / "audio" / "speech_mandarin_4s_pcm16.wav", 16000)
    pcm, _ = sf.read(data_dir / "audio" / "speech_mandarin_4s_pcm16.wav", dtype="int16")
    sf.write(tmp_path / "m.flac", pcm, 16000, subtype="PCM_16")
    flac, _ = load_audio(tmp_path / "m.flac", 16000)
    np.testing.assert_array_equal(flac, mandarin)  # FLAC is lossless
    np.testing.assert_allclose(mandarin, pcm / 32768.0, atol=1e-7)


def test_resampling_is_soxr_hq_and_keeps_the_tone(tmp_path):
    t = np.arange(44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", tone, 44100, subtype="FLOAT")
    audio, sr = load_audio(tmp_path / "tone.wav", 16000)
    assert sr == 16000 and audio.shape == (16000,)
    np.testing.assert_allclose(audio, soxr.resample(tone, 44100, 16000, quality="HQ"), atol=1e-6)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over 1 s
    native, native_sr = load_audio(tmp_path / "tone.wav")
    assert native_sr == 44100 and native.shape == (44100,)


def test_unreadable_and_empty_files_are_named(tmp_path):
    (tmp_path / "garbage.wav").write_bytes(b"not audio at all" * 10)
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    (tmp_path / "zero_bytes.flac").write_bytes(b"")
    for name in ("garbage.wav", "empty.wav", "zero_bytes.flac"):
        with pytest.raises(AudioError, match=name):
            load_audio(tmp_path / name, 16000)
        with pytest.raises(AudioError, match=name):
            audio_info(tmp_path / name)


def test_fit_length_pads_at_the_end_and_crops():
    audio = np.arange(10, dtype=np.float32)
    padded, offset = fit_length(audio, 15, random_crop=True)
    assert offset == 0 and padded.tolist() == list(range(10)) + [0] * 5
    cropped, offset = fit_length(audio, 4, random_crop=False)
    assert offset == 0 and cropped.tolist() == [0, 1, 2, 3]
    offsets = {fit_length(audio, 4, random_crop=True)[1] for _ in range(200)}
    assert offsets == set(range(7))


def test_shift_events_clips_and_drops():
    events = [(0.5, 2.0, "Dog"), (3.0, 12.0, "Speech"), (11.0, 11.5, "Cat")]
    # Cat moves to 10.0-10.5 s and is clipped away; Dog's onset and Speech's offset are clipped
    assert shift_events(events, 1.0, 10.0) == [(0.0, 1.0, "Dog"), (2.0, 10.0, "Speech")]
    assert shift_events(events, 0.0, 10.0) == [(0.5, 2.0, "Dog"), (3.0, 10.0, "Speech")]


def test_check_audio_file_tells_each_problem_with_fitting_advice(tmp_path, rng):
    audio = (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32)
    sf.write(tmp_path / "ok.wav", audio, 16000, subtype="PCM_16")
    sf.write(tmp_path / "ok.flac", audio, 16000)
    assert check_audio_file(tmp_path / "ok.wav").frames == check_audio_file(tmp_path / "ok.flac").frames == 48000
    for name in ("ok.wav", "ok.flac"):
        whole = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(whole[: len(whole) // 2])
    assert sf.info(str(tmp_path / "cut_ok.wav")).frames < 48000  # libsndfile shortens it without a word
    with pytest.raises(AudioError, match=r"cut_ok.wav is truncated: .*announces 96000 bytes.*download it again"):
        check_audio_file(tmp_path / "cut_ok.wav")
    with pytest.raises(AudioError, match=r"cut_ok.flac.*(truncated|damaged).*download it again"):
        check_audio_file(tmp_path / "cut_ok.flac")
    broken = audio.copy()
    broken[16000 + 8] = np.nan
    sf.write(tmp_path / "nan.wav", broken, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav holds NaN.*first at 1.000 s.*will not help") as nan:
        check_audio_file(tmp_path / "nan.wav", block_seconds=0.3)
    assert "re-download" not in str(nan.value)
    with pytest.raises(AudioError, match=r"nan.wav holds NaN.*first at 1.000 s"):
        load_audio(tmp_path / "nan.wav", 16000)  # what the datasets read: NaN never comes out
    broken[16000 + 8] = np.inf
    sf.write(tmp_path / "inf.wav", broken, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"inf.wav holds NaN or infinite samples"):
        load_audio(tmp_path / "inf.wav", 44100)
    with pytest.raises(AudioError, match=r"cut_ok.wav is truncated: .*announces 96000 bytes"):
        check_header(tmp_path / "cut_ok.wav")  # from the header alone, without decoding
    assert check_header(tmp_path / "nan.wav").frames == 48000  # samples are not read
    with pytest.raises(AudioError, match="is a folder"):
        check_audio_file(tmp_path)
    with pytest.raises(AudioError, match="not found"):
        check_audio_file(tmp_path / "nowhere.wav")


def test_wav_header_lengths(tmp_path, rng):
    audio = (0.1 * rng.standard_normal(1001)).astype(np.float32)
    sf.write(tmp_path / "odd.wav", audio, 16000, subtype="PCM_U8")  # 1001 data bytes: a padded chunk
    with open(tmp_path / "odd.wav", "ab") as handle:  # a chunk after the data, as some recorders write
        handle.write(b"LIST" + (4).to_bytes(4, "little") + b"INFO")
    assert wav_declared_bytes(tmp_path / "odd.wav")[0] == 1001
    assert check_audio_file(tmp_path / "odd.wav").frames == 1001
    streamed = bytearray((tmp_path / "odd.wav").read_bytes())
    position = streamed.index(b"data") + 4
    streamed[position : position + 4] = (0xFFFFFFFF).to_bytes(4, "little")  # length unknown when it was written
    (tmp_path / "streamed.wav").write_bytes(bytes(streamed))
    assert wav_declared_bytes(tmp_path / "streamed.wav") is None
    sf.write(tmp_path / "x.flac", audio, 16000)
    assert wav_declared_bytes(tmp_path / "x.flac") is None

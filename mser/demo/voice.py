"""A parametric speech-like voice for the demo corpus: speakers, emotions, languages.

The signal is a source-filter model at :data:`SYNTH_RATE`: a Rosenberg glottal pulse
train following a pitch contour (declination, accents, phrase-final movement), with
jitter, shimmer, creak and aspiration noise, shaped by three formant resonators per
syllable segment, plus plosive bursts and fricative noise between vowels, a recording
channel and a background noise floor. Everything is a pure function of its arguments
and of the random generators passed in.

Synthesis is prefix-stable: every random draw whose size depends on the utterance
length comes last from its generator, and all filters are causal, so the same
utterance made longer only changes from its last syllables on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np
from scipy import signal

from mser.demo._profiles import (
    CHANNEL_PROFILES,
    EMOTION_ALIASES,
    EMOTION_KEYS,
    EMOTION_PROFILES,
    IDIOSYNCRASY_SD,
    LANGUAGE_PROFILES,
    SCHWA,
    TAKE_SD,
    ChannelProfile,
    EmotionProfile,
    LanguageProfile,
)

__all__ = [
    "CHANNEL_PROFILES", "EMOTION_ALIASES", "EMOTION_PROFILES", "LANGUAGE_PROFILES", "SYNTH_RATE",
    "ChannelProfile", "Cues", "EmotionProfile", "LanguageProfile", "Plan", "SpeakerTraits", "Text",
    "make_text", "plan_utterance", "speaker_traits", "synthesize", "utterance_cues",
    "utterance_duration",
]

#: Internal sample rate of the synthesis, Hz.
SYNTH_RATE = 16_000
#: Syllables a text holds; enough for the longest utterance at the fastest rate.
MAX_SYLLABLES = 64
_PERIOD_TABLE = 4096  # per-glottal-period random values, indexed by period number
_KIND_NONE, _KIND_PLOSIVE, _KIND_FRICATIVE, _KIND_NASAL = range(4)
_ONSET_SHARE = (0.0, 0.32, 0.40, 0.30)  # share of the syllable an onset of each kind takes
_NASAL_FORMANTS = (250.0, 1100.0, 2300.0)
_CUE_COUNT = len(EmotionProfile().as_array())
_MAX_VOWELS = max(len(language.vowels) for language in LANGUAGE_PROFILES.values())
# Frequencies (rad/sample) and weights of a long-term speech spectrum, for level setting.
_REFERENCE_W = 2.0 * np.pi * np.geomspace(100.0, 6000.0, 48) / SYNTH_RATE
_REFERENCE_POWER = (1.0 / (1.0 + (_REFERENCE_W * SYNTH_RATE / (2.0 * np.pi) / 500.0) ** 2))
_REFERENCE_POWER = _REFERENCE_POWER / _REFERENCE_POWER.sum()
_POLES = 6
_HANKEL = np.add.outer(np.arange(1, _POLES + 1), np.arange(_POLES))  # a[k + 1 + j]
_REFERENCE_Z = np.exp(-1j * np.outer(np.arange(_POLES + 1), _REFERENCE_W))  # powers of 1/z


@dataclass(frozen=True, eq=False)
class SpeakerTraits:
    """One speaker's voice and acting style.

    Attributes:
        gender: ``f`` or ``m``.
        f0_hz: Neutral pitch level.
        range_st: Neutral accent size, semitones.
        formant_scale: Vocal tract length factor on all formants (shorter tract, higher).
        bandwidth_scale: Factor on formant bandwidths (damping of the tract).
        open_quotient: Neutral glottal open quotient.
        tilt: Neutral source low-pass coefficient.
        breathiness: Neutral aspiration level.
        jitter: Neutral cycle-to-cycle pitch perturbation.
        shimmer: Cycle-to-cycle amplitude perturbation.
        rate: Personal speaking rate, log2 factor on the language's rate.
        loudness_db: Personal level (voice strength and distance to the microphone).
        expressiveness: How strongly the speaker acts, factor on every emotion profile.
        cue_weights: How much the speaker uses each cue, factor per profile field.
        idiosyncrasy: The speaker's own shift of each emotion's cues.
        vowel_shift: The speaker's own realisation of each vowel, factors on its
            formants, shape ``(vowels, 3)`` (accent and anatomy).
        colour: Microphone and room of the speaker's session: (peak Hz, peak dB, tilt).
    """

    gender: str
    f0_hz: float
    range_st: float
    formant_scale: float
    bandwidth_scale: float
    open_quotient: float
    tilt: float
    breathiness: float
    jitter: float
    shimmer: float
    rate: float
    loudness_db: float
    expressiveness: float
    cue_weights: EmotionProfile
    idiosyncrasy: Mapping[str, EmotionProfile]
    vowel_shift: np.ndarray
    colour: tuple[float, float, float]


def speaker_traits(rng: np.random.Generator, gender: str) -> SpeakerTraits:
    """Draw a speaker of ``gender`` (``f`` or ``m``)."""
    if gender not in ("f", "m"):
        raise ValueError(f"gender must be 'f' or 'm', got {gender!r}")
    female = gender == "f"
    f0_low, f0_high = (165.0, 260.0) if female else (85.0, 155.0)
    idiosyncrasy = {key: EmotionProfile.from_array(rng.normal(0.0, IDIOSYNCRASY_SD.as_array()))
                    for key in EMOTION_KEYS if key != "neutral"}
    idiosyncrasy["neutral"] = EmotionProfile()
    return SpeakerTraits(
        gender=gender,
        f0_hz=float(np.exp(rng.uniform(np.log(f0_low), np.log(f0_high)))),
        range_st=float(rng.uniform(3.0, 6.0) if female else rng.uniform(2.5, 5.0)),
        formant_scale=float(rng.normal(1.17 if female else 1.0, 0.06)),
        bandwidth_scale=float(rng.uniform(0.8, 1.3)),
        open_quotient=float(rng.uniform(0.5, 0.72)),
        tilt=float(rng.uniform(0.1, 0.6)),
        breathiness=float(rng.uniform(0.08, 0.3) if female else rng.uniform(0.03, 0.2)),
        jitter=float(rng.uniform(0.003, 0.012)),
        shimmer=float(rng.uniform(0.03, 0.12)),
        rate=float(rng.normal(0.0, 0.12)),
        loudness_db=float(rng.normal(0.0, 1.5)),
        expressiveness=float(np.clip(np.exp(rng.normal(np.log(0.9), 0.4)), 0.3, 1.4)),
        cue_weights=EmotionProfile.from_array(np.exp(rng.normal(0.0, 0.35, _CUE_COUNT)).clip(0.5, 1.8)),
        idiosyncrasy=idiosyncrasy,
        vowel_shift=np.exp(rng.normal(0.0, 0.08, (_MAX_VOWELS, 3))),
        colour=(float(np.exp(rng.uniform(np.log(300.0), np.log(3000.0)))),
                float(rng.normal(0.0, 5.0)), float(rng.normal(0.0, 0.2))),
    )


@dataclass(frozen=True, eq=False)
class Cues:
    """The vocal settings of one utterance (speaker, emotion and take combined).

    Attributes mirror :class:`EmotionProfile` and :class:`SpeakerTraits` as absolute
    values; ``rate`` is in syllables per second, ``pause_s`` the mean pause length,
    ``final_st`` the pitch movement at phrase ends and ``formant_scale`` the factor on
    the language's formants.
    """

    f0_hz: float
    range_st: float
    loudness_db: float
    rate: float
    open_quotient: float
    tilt: float
    breathiness: float
    jitter: float
    shimmer: float
    creak: float
    tremor_st: float
    formant_scale: float
    bandwidth_scale: float
    articulation: float
    pause_s: float
    final_st: float
    vowel_shift: np.ndarray
    colour: tuple[float, float, float]


def utterance_cues(speaker: SpeakerTraits, emotion: str, language: LanguageProfile, *,
                   intensity: float = 1.0, rng: np.random.Generator) -> Cues:
    """Settings of one take: the emotion's profile as this speaker acts it, plus take spread.

    Args:
        speaker: Who speaks.
        emotion: A key of :data:`EMOTION_PROFILES` or an alias in :data:`EMOTION_ALIASES`.
        language: The language spoken.
        intensity: Factor on the acted emotion (RAVDESS "strong" takes are above 1).
        rng: The take's generator.
    """
    key = EMOTION_ALIASES.get(emotion, emotion)
    if key not in EMOTION_PROFILES:
        raise ValueError(f"unknown emotion {emotion!r}: expected one of {', '.join(EMOTION_PROFILES)}")
    acted = (EMOTION_PROFILES[key].as_array() * speaker.cue_weights.as_array()
             + speaker.idiosyncrasy[key].as_array()) * speaker.expressiveness * intensity
    d = EmotionProfile.from_array(acted + rng.normal(0.0, TAKE_SD.as_array()))
    return Cues(
        f0_hz=speaker.f0_hz * 2.0 ** (d.f0_st / 12.0),
        range_st=speaker.range_st * language.accent * 2.0 ** d.range,
        loudness_db=speaker.loudness_db + 10.0 * np.tanh(d.loudness_db / 10.0),
        rate=language.syllable_rate * 2.0 ** (speaker.rate + d.rate),
        open_quotient=float(np.clip(speaker.open_quotient + d.open_quotient, 0.35, 0.9)),
        tilt=float(np.clip(speaker.tilt + d.tilt, 0.0, 0.9)),
        breathiness=float(np.clip(speaker.breathiness + d.breathiness, 0.0, 0.7)),
        jitter=float(np.clip(speaker.jitter + d.jitter, 0.0, 0.05)),
        shimmer=speaker.shimmer,
        creak=float(np.clip(d.creak, 0.0, 0.9)),
        tremor_st=max(d.tremor_st, 0.0),
        formant_scale=speaker.formant_scale * 2.0 ** d.formant,
        bandwidth_scale=speaker.bandwidth_scale,
        articulation=float(np.clip(1.0 + d.articulation, 0.4, 1.4)),
        pause_s=0.22 * 2.0 ** d.pause,
        final_st=-2.0 + d.final_st,
        vowel_shift=speaker.vowel_shift,
        colour=speaker.colour,
    )


def utterance_duration(cues: Cues, language: LanguageProfile, low: float, high: float,
                       rng: np.random.Generator) -> float:
    """A duration in ``[low, high]`` seconds: slow takes (sad, disgust) run longer."""
    slowness = -np.log2(cues.rate / language.syllable_rate)
    share = np.clip(0.5 + 0.22 * rng.standard_normal() + 0.6 * slowness, 0.0, 1.0)
    return float(low + (high - low) * share)


@dataclass(frozen=True, eq=False)
class Text:
    """The phonological skeleton of a sentence, shared by everyone who says it.

    Attributes:
        kind: Onset consonant per syllable (none, plosive, fricative, nasal).
        cluster: Whether the onset is a consonant cluster (longer).
        vowel: Index into the language's vowel inventory.
        stressed: Whether the syllable carries stress.
        breaks: Whether a phrase ends after the syllable.
    """

    kind: np.ndarray
    cluster: np.ndarray
    vowel: np.ndarray
    stressed: np.ndarray
    breaks: np.ndarray


def make_text(rng: np.random.Generator, language: LanguageProfile) -> Text:
    """Draw a sentence of :data:`MAX_SYLLABLES` syllables in ``language``."""
    n = MAX_SYLLABLES
    kind = rng.choice(4, size=n, p=language.consonants)
    cluster = (rng.random(n) < language.cluster) & (kind != _KIND_NONE)
    vowel = rng.integers(len(language.vowels), size=n)
    gaps = np.maximum(1, np.round(rng.normal(language.stress_period, 0.6, n))).astype(int)
    stressed = np.zeros(n, bool)
    stressed[(np.cumsum(gaps) - gaps[0] + int(rng.integers(2)))[:n].clip(max=n - 1)] = True
    lengths = rng.integers(language.phrase[0], language.phrase[1] + 1, n)
    breaks = np.zeros(n, bool)
    breaks[(np.cumsum(lengths) - 1)[np.cumsum(lengths) <= n]] = True
    return Text(kind, cluster, vowel, stressed, breaks)


@dataclass(frozen=True, eq=False)
class Plan:
    """Timing, targets and levels of the syllables of one utterance (arrays per syllable).

    Attributes:
        onset: Start of the onset consonant, seconds.
        nucleus: Start of the vowel, seconds.
        end: End of the vowel, seconds.
        kind: Onset consonant kind.
        formants: Vowel formant targets for this speaker, Hz, shape ``(n, 3)``.
        level: Linear level of the syllable.
        pitch_st: Pitch target at the middle of the vowel, semitones from the speaker's level.
    """

    onset: np.ndarray
    nucleus: np.ndarray
    end: np.ndarray
    kind: np.ndarray
    formants: np.ndarray
    level: np.ndarray
    pitch_st: np.ndarray


def plan_utterance(text: Text, cues: Cues, language: LanguageProfile, duration_s: float,
                   rng: np.random.Generator) -> Plan:
    """Lay the syllables of ``text`` out in time until ``duration_s`` is filled."""
    n = MAX_SYLLABLES
    z_dur, z_pause, z_level, z_accent = rng.standard_normal((4, n))
    u_pause = rng.random(n)
    lead = 0.05 + 0.15 * rng.random()
    stress_share = 1.0 / language.stress_period
    unit = 1.0 / cues.rate / (stress_share * language.stress_lengthening + 1.0 - stress_share)
    extra_pause = 0.04 * cues.pause_s / 0.22  # chance of a hesitation pause after a syllable
    rows = []
    t, phrase_start = lead, lead
    for i in range(n):
        length = unit * np.exp(language.duration_cv * z_dur[i] - 0.5 * language.duration_cv ** 2)
        length *= language.stress_lengthening if text.stressed[i] else 1.0
        length *= 1.25 if text.breaks[i] else 1.0  # phrase-final lengthening
        if t + length > duration_s - 0.08:
            break
        onset = length * (_ONSET_SHARE[text.kind[i]] + 0.12 * text.cluster[i])
        accent = (0.75 + 0.25 * z_accent[i]) if text.stressed[i] else 0.15 * z_accent[i]
        pitch = cues.range_st * accent - language.declination_st_s * (t + length / 2 - phrase_start)
        pitch += cues.final_st if text.breaks[i] else 0.0
        level_db = (language.stress_db if text.stressed[i] else 0.0) + 1.5 * z_level[i]
        rows.append((t, t + onset, t + length, text.kind[i], text.vowel[i], text.stressed[i],
                     10.0 ** (level_db / 20.0), pitch))
        t += length
        if text.breaks[i] or u_pause[i] < extra_pause:
            t += cues.pause_s * np.exp(0.35 * z_pause[i]) * (1.0 if text.breaks[i] else 0.6)
            phrase_start = t
    onset, nucleus, end, kind, vowel, stressed, level, pitch = (np.array(c) for c in zip(*rows))
    return Plan(onset, nucleus, end, kind.astype(int),
                _vowel_formants(vowel, stressed, cues, language), level, pitch)


def _vowel_formants(vowel: np.ndarray, stressed: np.ndarray, cues: Cues,
                    language: LanguageProfile) -> np.ndarray:
    targets = np.asarray(language.vowels, float)[vowel] * cues.vowel_shift[vowel]
    schwa = np.asarray(SCHWA)
    reduction = np.where(stressed, 0.0, language.reduction)[:, None]
    targets = targets + reduction * (schwa - targets)
    targets = schwa + cues.articulation * (targets - schwa)
    return targets * cues.formant_scale


def synthesize(plan: Plan, cues: Cues, language: LanguageProfile, channel: ChannelProfile, *,
               n: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Render a planned utterance as ``n`` samples at :data:`SYNTH_RATE`.

    Returns:
        Float samples of shape ``(n, channels)``, at the corpus's fixed gain (not
        normalised), with the channel's colour and noise floor.
    """
    jitter_table, shimmer_table = rng.standard_normal((2, _PERIOD_TABLE))
    drift = rng.normal(0.0, 0.35, MAX_SYLLABLES)
    floor_db = rng.normal(0.0, 2.0)
    right_rng = rng.spawn(1)[0]
    # Drawn last, as its size depends on n: columns floor, aspiration, consonants.
    floor, aspiration, consonant = rng.standard_normal((n, 3), dtype=np.float32).T
    t = np.arange(n) / SYNTH_RATE
    voiced_env, burst_env, fric_env = _envelopes(plan, t)
    f0 = _f0_contour(plan, cues, t, drift)
    source = _glottal_source(f0, cues, aspiration, jitter_table, shimmer_table)
    voiced = _formant_filter(source * voiced_env, plan, cues)
    centre = language.fricative_hz
    fricative_band = _bandpass(centre - 1500.0, min(centre + 2500.0, 7800.0))
    consonants = (0.25 * burst_env * signal.sosfilt(_bandpass(1500.0, 6500.0), consonant)
                  + 0.12 * fric_env * signal.sosfilt(fricative_band, consonant))
    speech = (voiced + consonants) * (10.0 ** (cues.loudness_db / 20.0) * channel.gain)
    recording = np.vstack([_session_colour(*cues.colour), _channel_filter(channel)])
    speech = signal.sosfilt(recording, speech)
    floor_gain = 10.0 ** ((channel.noise_db + floor_db) / 20.0)
    out = np.empty((n, channels))
    out[:, 0] = speech + floor_gain * signal.sosfilt(_floor_filter(channel), floor)
    if channels == 2:
        right_floor = right_rng.standard_normal(n, dtype=np.float32)
        out[:, 1] = (speech * 10.0 ** (channel.right_db / 20.0)
                     + floor_gain * signal.sosfilt(_floor_filter(channel), right_floor))
    return out


def _envelopes(plan: Plan, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample-level amplitude of voicing, plosive bursts and frication."""
    voiced, bursts, fric = _Breakpoints(), _Breakpoints(), _Breakpoints()
    for onset, nucleus, end, kind, level in zip(plan.onset, plan.nucleus, plan.end, plan.kind,
                                                plan.level):
        attack, release = min(0.02, 0.3 * (end - nucleus)), min(0.04, 0.4 * (end - nucleus))
        start_level = 0.0
        if kind == _KIND_NASAL:
            voiced.add(onset, 0.0).add(onset + 0.012, 0.3 * level)
            start_level = 0.35 * level
        elif kind == _KIND_PLOSIVE:
            release_at = onset + 0.7 * (nucleus - onset)
            bursts.add(release_at, 0.0).add(release_at + 0.003, level).add(nucleus, 0.15 * level)
            bursts.add(nucleus + 0.01, 0.0)
        elif kind == _KIND_FRICATIVE:
            fric.add(onset, 0.0).add(onset + 0.015, level).add(nucleus - 0.01, level).add(nucleus, 0.0)
        voiced.add(nucleus, start_level).add(nucleus + attack, level)
        voiced.add(end - release, 0.85 * level).add(end, 0.0)
    return voiced.sample(t), bursts.sample(t), fric.sample(t)


class _Breakpoints:
    """A piecewise-linear envelope, built left to right."""

    def __init__(self) -> None:
        self.x: list[float] = [0.0]
        self.y: list[float] = [0.0]

    def add(self, x: float, y: float) -> "_Breakpoints":
        if x > self.x[-1] + 1e-6:
            self.x.append(x)
            self.y.append(y)
        return self

    def sample(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.x, self.y, right=0.0)


def _f0_contour(plan: Plan, cues: Cues, t: np.ndarray, drift: np.ndarray) -> np.ndarray:
    """Pitch in Hz per sample: accents and declination, final fall, slow drift, tremor."""
    # The utterance-final fall (or rise) runs over the second half of the last vowel,
    # so a longer take of the same utterance only differs from there on.
    knots = np.append((plan.nucleus + plan.end) / 2.0, plan.end[-1])
    semitones = np.interp(t, knots, np.append(plan.pitch_st, plan.pitch_st[-1] + cues.final_st))
    semitones += np.interp(t, 0.2 * np.arange(len(drift)), drift)
    semitones += cues.tremor_st * np.sin(2.0 * np.pi * 5.5 * t)
    return cues.f0_hz * 2.0 ** (semitones / 12.0)


def _glottal_source(f0: np.ndarray, cues: Cues, noise: np.ndarray, jitter_table: np.ndarray,
                    shimmer_table: np.ndarray) -> np.ndarray:
    """Differentiated Rosenberg pulses with jitter, shimmer, creak and aspiration, tilted."""
    period = np.floor(np.cumsum(f0) / SYNTH_RATE).astype(np.int64) % _PERIOD_TABLE
    phase = np.cumsum(f0 * (1.0 + cues.jitter * jitter_table[period])) / SYNTH_RATE
    cycle = np.floor(phase).astype(np.int64)
    phi = phase - cycle
    flow = _rosenberg(cues.open_quotient)
    pulses = np.diff(flow[(phi * (len(flow) - 1)).astype(np.int64)], prepend=0.0)
    pulses *= (1.0 + cues.shimmer * shimmer_table[cycle % _PERIOD_TABLE])
    pulses *= 1.0 - 0.8 * cues.creak * (cycle % 2)
    tilt = _tilt_filter(cues.tilt)
    pulses = signal.lfilter(*tilt, pulses)
    # Unit level for a steady voice, so voice quality shapes the spectrum while the
    # level is set by ``Cues.loudness_db``.
    steady = np.diff(flow[(np.arange(SYNTH_RATE // 4) * cues.f0_hz / SYNTH_RATE % 1.0
                           * (len(flow) - 1)).astype(np.int64)])
    pulses /= np.sqrt(np.mean(signal.lfilter(*tilt, steady)[SYNTH_RATE // 20:] ** 2))
    return pulses + cues.breathiness * noise * (0.4 + (phi < cues.open_quotient))


def _rosenberg(open_quotient: float, points: int = 4096) -> np.ndarray:
    """One period of Rosenberg glottal flow, on a grid of phases from 0 to 1."""
    phi = np.linspace(0.0, 1.0, points)
    opening, closing = 0.65 * open_quotient, 0.35 * open_quotient
    rising = 0.5 - 0.5 * np.cos(np.pi * np.minimum(phi / opening, 1.0))
    falling = np.cos(0.5 * np.pi * np.clip((phi - opening) / closing, 0.0, 1.0))
    return np.where(phi < opening, rising, falling)


def _tilt_filter(a: float) -> tuple[list[float], list[float]]:
    """One-pole low-pass with unit gain at 1 kHz: above 0 tilts the spectrum down."""
    gain_1k = abs(1.0 - a * np.exp(-2j * np.pi * 1000.0 / SYNTH_RATE))
    return [gain_1k], [1.0, -a]


def _formant_filter(source: np.ndarray, plan: Plan, cues: Cues) -> np.ndarray:
    """Three cascaded resonators per segment, gliding from one vowel to the next."""
    bounds, formants = _formant_segments(plan, cues, len(source))
    bandwidths = np.array([60.0, 90.0, 140.0]) * cues.bandwidth_scale
    bandwidths += cues.breathiness * np.array([200.0, 80.0, 40.0])
    gains, denominators = _resonators(formants, bandwidths)
    out = np.zeros(len(source) + _POLES)  # leading zeros: the past of the first segment
    for start, stop, gain, denominator in zip(bounds[:-1], bounds[1:], gains, denominators):
        if stop > start:
            # Restart from the past outputs under the new coefficients (as in LPC
            # synthesis), which changes formants without a click.
            past = out[start + _POLES - 1:start - 1 if start else None:-1]
            state = -np.append(denominator, np.zeros(_POLES))[_HANKEL] @ past
            out[start + _POLES:stop + _POLES] = signal.lfilter(gain, denominator, source[start:stop],
                                                               zi=state)[0]
    return out[_POLES:]


def _formant_segments(plan: Plan, cues: Cues, n: int) -> tuple[list[int], np.ndarray]:
    """Segment bounds in samples and the formants of each segment, shape ``(segments, 3)``.

    Each syllable has three segments: the onset (nasal formants, or halfway from the
    previous vowel), a glide toward the vowel, and the vowel target.
    """
    nasal = np.asarray(_NASAL_FORMANTS) * cues.formant_scale
    bounds, targets = [0], []
    previous = plan.formants[0]
    for nucleus, end, kind, target in zip(plan.nucleus, plan.end, plan.kind, plan.formants):
        onset_formants = nasal if kind == _KIND_NASAL else 0.5 * (previous + target)
        glide = nucleus + 0.3 * (end - nucleus)
        bounds += [int(round(x * SYNTH_RATE)) for x in (nucleus, glide, end)]
        targets += [onset_formants, 0.3 * previous + 0.7 * target, target]
        previous = target
    bounds[-1] = n
    return bounds, np.array(targets)


def _resonators(formants: np.ndarray, bandwidths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cascades of three Klatt resonators, as one all-pole filter per row of ``formants``.

    The gain is set so that a source with the long-term speech spectrum comes out at the
    same power whatever the formants: vowel and vocal tract do not change the level.

    Returns:
        Numerator gains, shape ``(m, 1)``, and denominators, shape ``(m, 7)``.
    """
    r = np.exp(-np.pi * bandwidths / SYNTH_RATE)
    b = 2.0 * r * np.cos(2.0 * np.pi * np.minimum(formants, 0.45 * SYNTH_RATE) / SYNTH_RATE)
    c = np.broadcast_to(-r * r, b.shape)
    denominator = np.ones((len(b), 1))
    for k in range(3):
        section = np.stack([np.ones(len(b)), -b[:, k], -c[:, k]], axis=1)
        denominator = _polymul_rows(denominator, section)
    unit_dc = np.prod(1.0 - b - c, axis=1)
    response = unit_dc[:, None] / (denominator @ _REFERENCE_Z)
    gain = unit_dc / np.sqrt(np.abs(response) ** 2 @ _REFERENCE_POWER)
    return gain[:, None], denominator


def _polymul_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise product of polynomials given as coefficient rows."""
    out = np.zeros((len(p), p.shape[1] + q.shape[1] - 1))
    for j in range(q.shape[1]):
        out[:, j:j + p.shape[1]] += p * q[:, j:j + 1]
    return out


def _session_colour(peak_hz: float, peak_db: float, tilt: float) -> np.ndarray:
    """A peaking equaliser (Q 1.4) and a first-order tilt, as second-order sections."""
    w0 = 2.0 * np.pi * peak_hz / SYNTH_RATE
    gain, alpha = 10.0 ** (peak_db / 40.0), np.sin(w0) / (2.0 * 1.4)
    peak = np.array([1.0 + alpha * gain, -2.0 * np.cos(w0), 1.0 - alpha * gain,
                     1.0 + alpha / gain, -2.0 * np.cos(w0), 1.0 - alpha / gain])
    return np.vstack([peak / peak[3], [1.0 + tilt, -tilt, 0.0, 1.0, 0.0, 0.0]])


@lru_cache(maxsize=None)
def _bandpass(low: float, high: float) -> np.ndarray:
    return signal.butter(2, [low, high], btype="bandpass", fs=SYNTH_RATE, output="sos")


@lru_cache(maxsize=None)
def _channel_filter(channel: ChannelProfile) -> np.ndarray:
    """Microphone and preamp: a first-order presence tilt and band limits, as sections."""
    presence = [1.0 + channel.presence, -channel.presence, 0.0, 1.0, 0.0, 0.0]
    highpass = signal.butter(2, channel.highpass_hz, btype="highpass", fs=SYNTH_RATE, output="sos")
    lowpass = signal.butter(4, channel.lowpass_hz, btype="lowpass", fs=SYNTH_RATE, output="sos")
    return np.vstack([presence, highpass, lowpass])


@lru_cache(maxsize=None)
def _floor_filter(channel: ChannelProfile) -> np.ndarray:
    """Background noise of unit variance heavy in low frequencies, through the channel."""
    pink = [np.sqrt(1.0 - 0.95 ** 2), 0.0, 0.0, 1.0, -0.95, 0.0]
    return np.vstack([pink, _channel_filter(channel)])

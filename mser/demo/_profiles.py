"""Tables of the demo voice: how each emotion, language and recording channel sounds.

Emotion profiles follow the direction of the vocal cues reported for acted emotional
speech (Banse & Scherer 1996; Juslin & Laukka 2003), stylised; languages differ in
syllable rate, rhythm class and vowel inventory; channels stand for each corpus's studio.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class EmotionProfile:
    """How far an emotion moves each vocal cue away from the speaker's neutral voice.

    Every field is a difference from neutral; log-scale fields are in octaves (``log2``
    of a factor), so the profile of a weak actor is the profile times a number below 1.

    Attributes:
        f0_st: Pitch level, semitones.
        range: Pitch range (accent size), log2 factor.
        loudness_db: Vocal level, dB.
        rate: Speaking rate (syllables per second), log2 factor.
        open_quotient: Glottal open quotient; below 0 is tense, above 0 breathy/lax.
        tilt: Source low-pass coefficient; above 0 is a steeper spectral tilt (softer voice).
        breathiness: Aspiration noise relative to the voiced source.
        jitter: Cycle-to-cycle F0 perturbation, fraction.
        creak: Share of alternating weak glottal pulses (vocal fry), 0-1.
        tremor_st: 5-6 Hz pitch tremor depth, semitones.
        formant: Formant frequencies, log2 factor (smiling raises, sagging lowers them).
        articulation: Vowel precision; below 0 drifts vowels toward schwa.
        pause: Length and frequency of pauses, log2 factor.
        final_st: Pitch movement at phrase ends, semitones (below 0 a fall, above 0 a rise).
    """

    f0_st: float = 0.0
    range: float = 0.0
    loudness_db: float = 0.0
    rate: float = 0.0
    open_quotient: float = 0.0
    tilt: float = 0.0
    breathiness: float = 0.0
    jitter: float = 0.0
    creak: float = 0.0
    tremor_st: float = 0.0
    formant: float = 0.0
    articulation: float = 0.0
    pause: float = 0.0
    final_st: float = 0.0

    def as_array(self) -> np.ndarray:
        """The fields in declaration order, for arithmetic on profiles."""
        return np.array([getattr(self, f.name) for f in dataclasses.fields(self)])

    @classmethod
    def from_array(cls, values: np.ndarray) -> "EmotionProfile":
        """The profile whose fields are ``values`` in declaration order."""
        return cls(*(float(v) for v in values))


@dataclass(frozen=True)
class LanguageProfile:
    """Rhythm, rate and sounds of one language.

    Attributes:
        code: ISO 639-1 code.
        syllable_rate: Neutral speaking rate, syllables per second.
        stress_period: Mean syllables from one stressed syllable to the next.
        stress_lengthening: Duration factor of stressed over unstressed syllables.
        duration_cv: Random spread of syllable durations (coefficient of variation).
        stress_db: Extra level of stressed syllables, dB.
        accent: Pitch accent size, factor on the speaker's range.
        reduction: How far unstressed vowels drift toward schwa, 0-1.
        consonants: Probabilities of onset none, plosive, fricative, nasal.
        cluster: Probability of a longer (clustered) onset.
        fricative_hz: Centre of the fricative noise band, Hz.
        phrase: Fewest and most syllables in a phrase.
        declination_st_s: Pitch fall along a phrase, semitones per second.
        vowels: Vowel inventory as (F1, F2, F3) in Hz for an adult male vocal tract.
    """

    code: str
    syllable_rate: float
    stress_period: float
    stress_lengthening: float
    duration_cv: float
    stress_db: float
    accent: float
    reduction: float
    consonants: tuple[float, float, float, float]
    cluster: float
    fricative_hz: float
    phrase: tuple[int, int]
    declination_st_s: float
    vowels: tuple[tuple[float, float, float], ...]


@dataclass(frozen=True)
class ChannelProfile:
    """One corpus's recording chain: band limits, colour, noise floor and fixed gain.

    Attributes:
        highpass_hz: Low cut of microphone and preamp.
        lowpass_hz: High cut (at the 16 kHz synthesis rate).
        presence: First-order high-frequency tilt; above 0 brighter, below 0 duller.
        noise_db: Background noise floor, dBFS (RMS).
        gain: Fixed output gain of the corpus; never per file, so loudness carries emotion.
        right_db: Level of the second channel relative to the first, for stereo files.
    """

    highpass_hz: float
    lowpass_hz: float
    presence: float
    noise_db: float
    gain: float
    right_db: float


#: Order in which tables and speaker idiosyncrasies list the emotions.
EMOTION_KEYS: tuple[str, ...] = (
    "neutral", "sad", "angry", "happy", "fear", "disgust", "surprise", "boredom", "calm",
)

EMOTION_PROFILES: Mapping[str, EmotionProfile] = MappingProxyType({
    "neutral": EmotionProfile(),
    "angry": EmotionProfile(f0_st=4.5, range=0.6, loudness_db=7.0, rate=0.18, open_quotient=-0.12,
                            tilt=-0.25, breathiness=-0.04, jitter=0.004, formant=0.04,
                            articulation=0.25, pause=-0.5, final_st=-2.0),
    "happy": EmotionProfile(f0_st=4.0, range=0.8, loudness_db=3.5, rate=0.10, open_quotient=-0.04,
                            tilt=-0.10, formant=0.06, articulation=0.15, pause=-0.2, final_st=1.0),
    "sad": EmotionProfile(f0_st=-2.0, range=-0.8, loudness_db=-5.0, rate=-0.35, open_quotient=0.12,
                          tilt=0.15, breathiness=0.12, jitter=0.004, creak=0.1, formant=-0.03,
                          articulation=-0.3, pause=0.8, final_st=-1.0),
    "fear": EmotionProfile(f0_st=5.5, range=0.1, loudness_db=1.0, rate=0.22, open_quotient=0.05,
                           tilt=0.05, breathiness=0.10, jitter=0.012, tremor_st=0.6, formant=0.02,
                           articulation=-0.05, pause=0.3, final_st=0.5),
    "disgust": EmotionProfile(f0_st=-1.5, range=-0.1, loudness_db=-1.0, rate=-0.30,
                              open_quotient=-0.03, tilt=0.05, breathiness=0.03, jitter=0.008,
                              creak=0.45, formant=-0.02, articulation=0.1, pause=0.4, final_st=-2.5),
    "surprise": EmotionProfile(f0_st=5.0, range=0.9, loudness_db=3.0, open_quotient=-0.02,
                               breathiness=0.03, formant=0.03, articulation=0.1, final_st=4.0),
    "boredom": EmotionProfile(f0_st=-1.5, range=-0.9, loudness_db=-3.0, rate=-0.25,
                              open_quotient=0.06, tilt=0.10, breathiness=0.05, creak=0.3,
                              articulation=-0.35, pause=0.3, final_st=-1.0),
    "calm": EmotionProfile(f0_st=-0.8, range=-0.3, loudness_db=-2.5, rate=-0.12, open_quotient=0.05,
                           tilt=0.08, breathiness=0.06, articulation=-0.1, pause=0.2, final_st=-1.0),
})

#: Spread across speakers of their own way of showing an emotion (one draw per speaker).
IDIOSYNCRASY_SD = EmotionProfile(
    f0_st=1.5, range=0.3, loudness_db=2.5, rate=0.1, open_quotient=0.05, tilt=0.1,
    breathiness=0.05, jitter=0.004, creak=0.12, tremor_st=0.2, formant=0.025, articulation=0.12,
    pause=0.3, final_st=1.2,
)

#: Spread from one take to the next of the same speaker and emotion.
TAKE_SD = EmotionProfile(
    f0_st=0.8, range=0.15, loudness_db=1.5, rate=0.06, open_quotient=0.02, tilt=0.04,
    breathiness=0.02, jitter=0.001, creak=0.05, tremor_st=0.05, formant=0.01, articulation=0.05,
    pause=0.2, final_st=0.8,
)

#: What a corpus code means (``corpora.Corpus.emotion_codes``) to emotion profile keys.
EMOTION_ALIASES: Mapping[str, str] = MappingProxyType({
    "joy": "happy", "happiness": "happy", "anger": "angry", "sadness": "sad",
    "fearful": "fear", "surprised": "surprise",
})

#: Formants of the central vowel that unstressed and sloppy vowels drift toward, Hz.
SCHWA: tuple[float, float, float] = (500.0, 1500.0, 2500.0)

LANGUAGE_PROFILES: Mapping[str, LanguageProfile] = MappingProxyType({
    # Italian: syllable-timed, even durations, open syllables, seven full vowels.
    "it": LanguageProfile(
        code="it", syllable_rate=6.2, stress_period=3.0, stress_lengthening=1.15,
        duration_cv=0.12, stress_db=1.5, accent=0.8, reduction=0.0,
        consonants=(0.10, 0.40, 0.30, 0.20), cluster=0.10, fricative_hz=4500.0,
        phrase=(5, 9), declination_st_s=1.5,
        vowels=((280, 2250, 2900), (400, 2050, 2650), (550, 1850, 2550), (750, 1300, 2500),
                (570, 950, 2450), (420, 850, 2400), (300, 750, 2300)),
    ),
    # German: stress-timed, strong alternation, reduced unstressed vowels, clusters.
    "de": LanguageProfile(
        code="de", syllable_rate=5.3, stress_period=2.0, stress_lengthening=1.6,
        duration_cv=0.30, stress_db=4.0, accent=1.2, reduction=0.5,
        consonants=(0.10, 0.35, 0.40, 0.15), cluster=0.45, fricative_hz=3500.0,
        phrase=(4, 8), declination_st_s=2.0,
        vowels=((280, 2250, 2950), (380, 2000, 2600), (330, 2150, 2750), (520, 1850, 2550),
                (720, 1250, 2550), (560, 950, 2500), (370, 750, 2450), (290, 700, 2300),
                (280, 1700, 2150), (380, 1500, 2200), SCHWA),
    ),
    # North American English: between the two, with an r-coloured vowel.
    "en": LanguageProfile(
        code="en", syllable_rate=5.7, stress_period=2.5, stress_lengthening=1.4,
        duration_cv=0.25, stress_db=3.0, accent=1.0, reduction=0.4,
        consonants=(0.15, 0.40, 0.30, 0.15), cluster=0.30, fricative_hz=5000.0,
        phrase=(4, 8), declination_st_s=1.8,
        vowels=((270, 2290, 3010), (390, 1990, 2550), (530, 1840, 2480), (660, 1720, 2410),
                (730, 1090, 2440), (570, 840, 2410), (440, 1020, 2240), (300, 870, 2240),
                (640, 1190, 2390), (490, 1350, 1690)),
    ),
})

#: Recording chain of each corpus, by corpus name. The gains keep the loudest takes
#: (strong anger of a loud, expressive actor) about at full scale; a few clip, as in real copies.
CHANNEL_PROFILES: Mapping[str, ChannelProfile] = MappingProxyType({
    "emovo": ChannelProfile(highpass_hz=80.0, lowpass_hz=7000.0, presence=-0.15, noise_db=-63.0,
                            gain=0.03, right_db=-0.8),
    "emodb": ChannelProfile(highpass_hz=50.0, lowpass_hz=7600.0, presence=0.0, noise_db=-69.0,
                            gain=0.022, right_db=0.0),
    "ravdess": ChannelProfile(highpass_hz=70.0, lowpass_hz=7800.0, presence=0.15, noise_db=-67.0,
                              gain=0.016, right_db=-0.3),
})

import pytest

from mser import testing
from mser.discovery import discover
from mser.errors import DataError

EMOVO = ["f1/dis-f1-b1.wav", "f3/neu-f3-b2.wav", "m1/sor-m1-b1.wav"]
EMODB = ["wav/03a01Fa.wav", "wav/09a02Wb.wav", "wav/10b01La.wav"]
RAVDESS = ["Actor_01/03-01-05-01-01-01-01.wav", "Actor_09/03-01-04-02-01-01-09.wav",
           "Actor_13/03-01-05-01-01-01-13.wav"]


def _write(root, nested=True):
    for folder, names in (("EMOVO", EMOVO), ("emo-db", EMODB), ("ravdess_speech", RAVDESS)):
        for name in names:
            rel = f"{folder}/{name}" if nested else name.rsplit("/", 1)[1]
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")  # discovery reads names only


@pytest.mark.parametrize("nested", [True, False])
def test_finds_each_corpus_by_file_names_in_any_layout(tmp_path, nested):
    _write(tmp_path, nested)
    found = discover(tmp_path)
    used = {u.utterance_id for u in found.utterances}
    assert used == {"emovo/dis-f1-b1", "emovo/neu-f3-b2", "emodb/03a01Fa", "emodb/09a02Wb",
                    "ravdess/03-01-05-01-01-01-01", "ravdess/03-01-04-02-01-01-09"}
    reasons = {u.utterance_id: r for u, r in found.excluded}
    assert "surprise" in reasons["emovo/sor-m1-b1"] and "boredom" in reasons["emodb/10b01La"]
    assert "13-24" in reasons["ravdess/03-01-05-01-01-01-13"]
    assert set(found.folders) == {"emovo", "emodb", "ravdess"}


def test_song_video_and_unknown_files_are_skipped_with_reasons(tmp_path):
    _write(tmp_path)
    extra = {
        "ravdess_speech/Actor_01/03-02-05-01-01-01-01.wav": "song",
        "ravdess_speech/Actor_01/01-01-05-01-01-01-01.mp4": "not audio",
        "ravdess_speech/Actor_01/03-01-05-01-01-01-01 (copy).wav": "unknown file name",
        "notes/recording.wav": "unknown file name",
    }
    for rel in extra:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    for rel in ("README.txt", ".hidden/03a01Fa.wav", "__MACOSX/wav/._03a01Fa.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = discover(tmp_path)
    skipped = {s.relpath: s.reason for s in found.skipped}
    assert set(skipped) == set(extra)
    for rel, word in extra.items():
        assert word in skipped[rel]
    assert {s.corpus for s in found.skipped if "song" in s.reason} == {"ravdess"}


def test_two_copies_of_a_corpus_are_refused(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / "b")
    with pytest.raises(DataError, match="there twice.*one copy"):
        discover(tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match="does not exist.*--data-root"):
        discover(tmp_path / "nope")


def test_file_as_root(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        discover(tmp_path / "f")


def test_empty_root(tmp_path):
    with pytest.raises(DataError, match="no wav files"):
        discover(tmp_path)


def test_root_with_only_unknown_files(tmp_path):
    testing.write_wav(tmp_path / "take1.wav", testing.tone(1.0, 8000), 8000)
    with pytest.raises(DataError, match="none of the 1 wav files.*take1.wav.*Expected names like"):
        discover(tmp_path)


def test_symlink_loops_are_followed_once_and_named(tmp_path):
    _write(tmp_path)
    (tmp_path / "EMOVO" / "f1" / "back").symlink_to(tmp_path)  # a loop to the root
    (tmp_path / "emo-db" / "again").symlink_to(tmp_path / "emo-db")  # a loop to its own folder
    found = discover(tmp_path)
    assert len(found.utterances) == 6  # each file once, not once per way to reach it
    loops = {s.relpath: s.reason for s in found.skipped if s.relpath.endswith("/")}
    assert set(loops) == {"EMOVO/f1/back/", "emo-db/again/"}
    assert all("already read" in reason for reason in loops.values())


def test_a_tree_of_loops_and_no_wav_answers_at_once(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).symlink_to(tmp_path)
    with pytest.raises(DataError, match="no wav files"):
        discover(tmp_path)


def test_a_data_root_that_is_a_symlink_loop_is_one_error(tmp_path):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(DataError, match="loop of symbolic links"):
        discover(tmp_path / "loop")


def test_a_walk_stops_at_its_bound_and_says_what_it_found(tmp_path):
    from mser.discovery import walk_files

    for i in range(5):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "x.wav").write_bytes(b"")
    with pytest.raises(DataError, match="more than 3 folders"):
        list(walk_files(tmp_path, max_folders=3))

from __future__ import annotations

import numpy as np
import pytest

from distil_bilstm.cli import main
from distil_bilstm.data import augment as augment_module
from distil_bilstm.data.augment import AugmentConfig, KoreanTagger, Lexicon, augment_dataset, augment_sentence
from distil_bilstm.data.datasets import load_dataset
from tests.conftest import write_lines, write_reviews


def english(tmp_path):
    return load_dataset("sst2", data_dir=write_reviews(tmp_path / "data"), download=False)


def config(**values) -> AugmentConfig:
    return AugmentConfig(**{"n_iter": 5, "p_mask": 0.0, "p_pos": 0.0, "p_ng": 0.0, "language": "en", **values})


def rows(path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text\tsource_idx"
    return [line.split("\t") for line in lines[1:]]


TEXT = "a charming and often affecting journey about love"
PLAIN = [(len(w), None) for w in TEXT.split()]


def test_no_rule_gives_no_sample():
    out = augment_sentence(TEXT, PLAIN, lexicon=None, config=config(n_iter=20), rng=np.random.default_rng(0))
    assert out == []  # every draw equals the original, which is never written


def test_mask_rule_alone_at_one_masks_every_word():
    out = augment_sentence(TEXT, PLAIN, lexicon=None, config=config(p_mask=1.0), rng=np.random.default_rng(0))
    assert out == [" ".join(["[MASK]"] * len(TEXT.split()))]  # five identical draws: deduplicated to one


def test_ngram_rule_alone_keeps_a_contiguous_ngram():
    out = augment_sentence(TEXT, PLAIN, lexicon=None, config=config(p_ng=1.0, n_iter=50), rng=np.random.default_rng(0))
    assert out and len(out) == len(set(out))
    for sample in out:
        assert 1 <= len(sample.split()) <= 5 and f" {sample} " in f" {TEXT} "


def test_pos_rule_alone_replaces_each_word_by_one_of_its_tag():
    lexicon = Lexicon({"NN": {"film": 3, "story": 1}, "JJ": {"dull": 1}})
    analysis = [(len(w), {"journey": "NN", "love": "NN", "charming": "JJ"}.get(w)) for w in TEXT.split()]
    out = augment_sentence(
        TEXT, analysis, lexicon=lexicon, config=config(p_pos=1.0, n_iter=30), rng=np.random.default_rng(0)
    )
    assert out
    for sample in out:
        words = sample.split()
        assert words[1] == "dull" and words[5] in ("film", "story") and words[7] in ("film", "story")
        assert [w for i, w in enumerate(words) if i not in (1, 5, 7)] == [
            w for i, w in enumerate(TEXT.split()) if i not in (1, 5, 7)
        ]
    drawn = [s.split()[5] for s in out]
    assert "film" in drawn  # frequency-weighted: the 3x word is drawn


def test_lexicon_draw_follows_counts():
    lexicon = Lexicon({"NN": {"a": 1, "b": 3}})
    draws = [lexicon.draw("NN", u) for u in np.linspace(0, 0.999, 400)]
    assert draws.count("b") == pytest.approx(300, abs=2) and lexicon.draw("VB", 0.5) is None


def test_korean_pos_replacement_keeps_the_tag_and_the_particles(small_nsmc):
    texts = load_dataset("nsmc", data_dir=small_nsmc, download=False).split("train")["text"].tolist()
    tagger = KoreanTagger()
    analyses = list(tagger.analyse(texts))
    lexicon = Lexicon.build(texts, analyses)
    cfg = config(p_pos=1.0, n_iter=3, language="ko")
    same = changed = 0
    for text, analysis in zip(texts[:40], analyses[:40]):
        for sample in augment_sentence(text, analysis, lexicon=lexicon, config=cfg, rng=np.random.default_rng(1)):
            for word, new, (prefix, tag) in zip(text.split(), sample.split(), analysis):
                if new != word:
                    assert tag is not None and new.endswith(word[prefix:])  # particles and endings kept as written
                    assert new[: len(new) - len(word) + prefix] in lexicon.tags[tag][0]  # drawn from the same tag
                    retagged = list(tagger.analyse([new]))[0][0]
                    changed += 1
                    same += retagged[1] == tag
    assert changed > 50 and same / changed > 0.8  # re-tagged alone, the replacement keeps its tag


def test_same_seed_same_file_and_another_seed_another(tmp_path):
    data = english(tmp_path)
    a, b, c = tmp_path / "a.tsv", tmp_path / "b.tsv", tmp_path / "c.tsv"
    augment_dataset(data, out=a, config=AugmentConfig(n_iter=4, seed=7), progress=False)
    augment_dataset(data, out=b, config=AugmentConfig(n_iter=4, seed=7), progress=False)
    augment_dataset(data, out=c, config=AugmentConfig(n_iter=4, seed=8), progress=False)
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()
    train_idx = set(data.split("train")["idx"].astype(str))
    assert rows(a) and all(source in train_idx for _, source in rows(a))


def test_interrupted_augment_resumes_to_the_same_file(tmp_path, monkeypatch):
    data = english(tmp_path)
    whole, cut = tmp_path / "whole.tsv", tmp_path / "cut.tsv"
    cfg = AugmentConfig(n_iter=4, seed=3)
    augment_dataset(data, out=whole, config=cfg, progress=False)

    monkeypatch.setattr(augment_module, "FLUSH_EVERY", 10)
    calls = {"n": 0}
    real = augment_module.augment_sentence

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 57:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(augment_module, "augment_sentence", interrupted)
    with pytest.raises(KeyboardInterrupt):
        augment_dataset(data, out=cut, config=cfg, progress=False)
    assert augment_module.progress_path(cut).is_file()
    monkeypatch.setattr(augment_module, "augment_sentence", real)
    meta = augment_dataset(data, out=cut, config=cfg, progress=False)
    assert cut.read_bytes() == whole.read_bytes()
    assert not augment_module.progress_path(cut).exists() and meta["rows"] == len(rows(whole))


def test_samples_equal_to_held_out_texts_are_dropped(tmp_path):
    data_dir = tmp_path / "data"
    write_lines(
        data_dir / "sst2" / "train.tsv",
        ["sentence\tlabel"] + [f"good film {i}\t1" for i in range(40)] + [f"bad film {i}\t0" for i in range(40)],
    )
    write_lines(data_dir / "sst2" / "dev.tsv", ["sentence\tlabel", "[MASK] [MASK] [MASK]\t1", "fine\t0"])
    data = load_dataset("sst2", data_dir=data_dir, download=False)
    meta = augment_dataset(data, out=tmp_path / "aug.tsv", config=config(p_mask=1.0), progress=False)
    assert meta["leaked_dropped"] == 76  # the train sentences not in valid: each one's only sample is the dev text
    assert all(text != "[MASK] [MASK] [MASK]" for text, _ in rows(tmp_path / "aug.tsv"))


def test_missing_tagger_disables_only_the_pos_rule(tmp_path, monkeypatch):
    def unavailable(language):
        raise augment_module.POSUnavailableError("no tagger here")

    monkeypatch.setattr(augment_module, "make_tagger", unavailable)
    meta = augment_dataset(english(tmp_path), out=tmp_path / "aug.tsv", config=AugmentConfig(n_iter=3), progress=False)
    assert meta["pos"] is False and "no tagger here" in meta["pos_note"] and meta["rows"] > 0


def test_config_is_checked_when_made():
    with pytest.raises(ValueError, match="AugmentConfig.p_mask must be in"):
        AugmentConfig(p_mask=1.5)
    with pytest.raises(ValueError, match="AugmentConfig.p_pos plus p_mask"):
        AugmentConfig(p_mask=0.6, p_pos=0.6)
    with pytest.raises(ValueError, match="AugmentConfig.mask_token must be one"):
        AugmentConfig(mask_token="[ MASK ]")
    assert AugmentConfig.from_dict(AugmentConfig(n_iter=3).to_dict()) == AugmentConfig(n_iter=3)


def test_cli_augment_on_the_builtin_sample(tmp_path, capsys):
    out = tmp_path / "aug.tsv"
    assert main(["augment", "--dataset", "nsmc_sample", "--out", str(out), "--n-iter", "2", "--no-pos"]) == 0
    printed = capsys.readouterr().out
    assert "| training sentences | rows written |" in printed and "--transfer-set" in printed
    assert len(rows(out)) > 4000

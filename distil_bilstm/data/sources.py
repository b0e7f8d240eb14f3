"""Where datasets come from: the registry of named datasets, the data folder, locating and downloading files."""

from __future__ import annotations

import logging
import os
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..utils import atomic_path, sha256_file
from .files import DataFormatError

logger = logging.getLogger(__name__)


DATA_ENV_VAR = "DISTIL_BILSTM_DATA"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class SourceFile:
    """One file of a named dataset and where it can be fetched from."""

    filename: str
    url: str | None = None
    zip_member: str | None = None  # the file inside ``url`` when that is a zip archive
    sha256: str | None = None  # pinned digest of the downloaded file (None: not pinned yet)


@dataclass(frozen=True)
class DatasetSpec:
    """How to read a dataset: its files, columns and label mapping."""

    name: str
    train: SourceFile
    test: SourceFile | None
    text_column: str | int
    label_column: str | int
    label_names: tuple[str, ...]
    # raw label string → class id; None means "excluded by the dataset's own rules" (not an error)
    label_map: dict[str, int | None]
    has_header: bool = True
    delimiter: str = "\t"
    quoting: bool = False  # TSVs here are unquoted: texts contain bare '"' characters
    note: str = ""
    builtin: bool = False  # shipped inside the package (SAMPLE_DIR): no data folder needed
    text_b_column: str | int | None = None  # a sentence-pair dataset's second text (data/pairs.py)
    task: str = "classification"  # or regression: the label column holds a number
    valid: SourceFile | None = None  # an official validation file (else valid is carved from train)


# The built-in sample: a few thousand NSMC reviews (CC0) that need no data folder and no network,
# for the quickstart, the notebook and the tests.
SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
_BAB2MIN = "https://raw.githubusercontent.com/bab2min/corpus/master/sentiment"
_GLUE_SST2 = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
_BINARY = {"0": 0, "1": 1}
_KORNLU = "https://raw.githubusercontent.com/kakaobrain/kor-nlu-datasets/master/KorSTS"

REGISTRY: dict[str, DatasetSpec] = {
    "nsmc": DatasetSpec(
        name="nsmc",
        train=SourceFile("ratings_train.txt", "https://raw.githubusercontent.com/e9t/nsmc/master/ratings_train.txt"),
        test=SourceFile("ratings_test.txt", "https://raw.githubusercontent.com/e9t/nsmc/master/ratings_test.txt"),
        text_column="document",
        label_column="label",
        label_names=("negative", "positive"),
        label_map=_BINARY,
        note="Naver Sentiment Movie Corpus (e9t/nsmc), id<TAB>document<TAB>label",
    ),
    "nsmc_sample": DatasetSpec(
        name="nsmc_sample",
        train=SourceFile("ratings_train.txt"),
        test=SourceFile("ratings_test.txt"),
        text_column="document",
        label_column="label",
        label_names=("negative", "positive"),
        label_map=_BINARY,
        note="built in: 5,000 train / 1,000 test reviews drawn from NSMC (CC0) with seed 2026",
        builtin=True,
    ),
    "sst2": DatasetSpec(
        name="sst2",
        train=SourceFile("train.tsv", _GLUE_SST2, zip_member="SST-2/train.tsv"),
        # GLUE's SST-2 test labels are hidden: dev is the test split everyone reports.
        test=SourceFile("dev.tsv", _GLUE_SST2, zip_member="SST-2/dev.tsv"),
        text_column="sentence",
        label_column="label",
        label_names=("negative", "positive"),
        label_map=_BINARY,
        note="GLUE SST-2, sentence<TAB>label; dev.tsv is the test split",
    ),
    "naver_shopping": DatasetSpec(
        name="naver_shopping",
        train=SourceFile("naver_shopping.txt", f"{_BAB2MIN}/naver_shopping.txt"),
        test=None,
        text_column=1,
        label_column=0,
        label_names=("negative", "positive"),
        # bab2min/corpus: ratings 1-2 negative, 4-5 positive; 3 is not part of the task.
        label_map={"1": 0, "2": 0, "3": None, "4": 1, "5": 1},
        has_header=False,
        note="bab2min/corpus sentiment/naver_shopping.txt, rating<TAB>text",
    ),
    "steam": DatasetSpec(
        name="steam",
        train=SourceFile("steam.txt", f"{_BAB2MIN}/steam.txt"),
        test=None,
        text_column=1,
        label_column=0,
        label_names=("negative", "positive"),
        label_map=_BINARY,
        has_header=False,
        note="bab2min/corpus sentiment/steam.txt, label<TAB>text",
    ),
    "korean_hate_speech": DatasetSpec(
        name="korean_hate_speech",
        train=SourceFile("train.tsv"),
        test=SourceFile("dev.tsv"),
        text_column="comments",
        label_column="hate",
        label_names=("none", "offensive", "hate"),
        label_map={"none": 0, "offensive": 1, "hate": 2},
        note="kocohub/korean-hate-speech labelled set; dev.tsv is the test split",
    ),
    "korsts": DatasetSpec(
        name="korsts",
        train=SourceFile("sts-train.tsv", f"{_KORNLU}/sts-train.tsv"),
        valid=SourceFile("sts-dev.tsv", f"{_KORNLU}/sts-dev.tsv"),
        test=SourceFile("sts-test.tsv", f"{_KORNLU}/sts-test.tsv"),
        text_column="sentence1",
        text_b_column="sentence2",
        label_column="score",
        label_names=("score",),
        label_map={},
        task="regression",
        note="KorSTS (kakaobrain/KorNLUDatasets, CC BY-SA 4.0): sentence pairs scored 0-5; sts-dev.tsv is the valid split",
    ),
}


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``--data-dir`` wins, then ``$DISTIL_BILSTM_DATA``, then ``./data``."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR])
    return Path("data")


def resolve_text_file(name: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A texts file given as a path, or relative to the data folder (``nsmc/unlabeled.txt``)."""
    path = Path(name)
    if path.is_file():
        return path
    under_data = resolve_data_dir(data_dir) / path
    if under_data.is_file():
        return under_data
    looked = str(path) if path.is_absolute() else f"{path} and {under_data}"
    raise FileNotFoundError(f"texts file {str(name)!r} not found (looked at {looked})")


# --------------------------------------------------------------------------------------------
# Locating and downloading files


def _download(source: SourceFile, target: Path) -> None:
    """Fetch ``source`` to ``target`` atomically, verifying its pinned sha256 when there is one."""
    assert source.url is not None
    logger.info("downloading %s -> %s", source.url, target)
    with atomic_path(target) as tmp:
        if source.zip_member:
            with atomic_path(target.with_suffix(".zip")) as zip_tmp:
                urllib.request.urlretrieve(source.url, zip_tmp)
                with zipfile.ZipFile(zip_tmp) as archive, open(tmp, "wb") as out:
                    out.write(archive.read(source.zip_member))
        else:
            urllib.request.urlretrieve(source.url, tmp)
        digest = sha256_file(tmp)
        if source.sha256 and digest != source.sha256:
            raise DataFormatError(f"{source.url}: sha256 {digest} does not match the pinned {source.sha256}; not saved")
    if not source.sha256:
        logger.warning("%s has no pinned checksum; downloaded sha256=%s", source.filename, digest)


def locate_file(spec: DatasetSpec, source: SourceFile, data_dir: Path, *, download: bool) -> Path:
    """Return ``data_dir/<dataset>/<file>``, downloading it when allowed and possible (a
    built-in dataset's file is always the packaged one)."""
    if spec.builtin:
        return SAMPLE_DIR / spec.name / source.filename
    target = data_dir / spec.name / source.filename
    if target.is_file():
        return target
    where = f"put {source.filename} in {target.parent}/ (or point --data-dir / ${DATA_ENV_VAR} at a folder holding {spec.name}/)"
    if download and source.url:
        try:
            _download(source, target)
            return target
        except OSError as err:
            raise FileNotFoundError(
                f"{target} is missing and downloading {source.url} failed ({err}); {where}"
            ) from None
    origin = f" It is published at {source.url}." if source.url else ""
    raise FileNotFoundError(f"{target} is missing: {where}.{origin}")

"""The transformer student: made from chosen teacher layers, padding-exact, trained by the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distil_bilstm.runs.config import DistilConfig
from distil_bilstm.students.registry import STUDENTS, StudentSettings, build_student, make_student
from distil_bilstm.students.transformer import TransformerStudent, student_config_from_teacher


@pytest.fixture
def three_layer_teacher(tmp_path, tiny_teacher_dir):
    """The tiny teacher's vocabulary with a 3-layer BERT classifier (hidden 16) of random weights."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    config = BertConfig(
        vocab_size=AutoTokenizer.from_pretrained(tiny_teacher_dir).vocab_size,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        num_labels=2,
    )
    out = tmp_path / "teacher3"
    BertForSequenceClassification(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_teacher_dir).save_pretrained(out)
    return out


def student_tokens(teacher_dir):
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(teacher_dir).get_vocab()
    return sorted(vocab, key=vocab.get)


def test_registry_builds_each_family_from_its_settings(three_layer_teacher):
    bilstm = make_student(StudentSettings(preset="tiny"), vocab_size=50, num_labels=3)
    assert (bilstm.architecture, bilstm.values["embedding_dim"], bilstm.values["hidden_dim"]) == ("bilstm", 8, 16)
    tokens = student_tokens(three_layer_teacher)
    transformer = make_student(
        StudentSettings(student="transformer", layers=(0, 2)),
        vocab_size=len(tokens),
        num_labels=2,
        teacher_dir=three_layer_teacher,
        tokens=tokens,
    )
    assert isinstance(transformer.model, TransformerStudent)
    assert (transformer.values["num_layers"], transformer.values["teacher_layers"]) == (2, [0, 2])
    for build in (bilstm, transformer):  # student.json's values rebuild the same architecture without the teacher
        rebuilt = build_student(build.architecture, build.values)
        assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in build.model.parameters()]
    assert set(STUDENTS) == {"bilstm", "siamese_bilstm", "transformer"}


def test_transformer_copies_the_chosen_teacher_layers_exactly(three_layer_teacher):
    from transformers import AutoModelForSequenceClassification

    tokens = student_tokens(three_layer_teacher)
    student = make_student(
        StudentSettings(student="transformer", layers=(0, 2)),
        vocab_size=len(tokens),
        num_labels=2,
        teacher_dir=three_layer_teacher,
        tokens=tokens,
    ).model
    teacher = AutoModelForSequenceClassification.from_pretrained(three_layer_teacher)
    for mine, theirs in ((0, 0), (1, 2)):
        ours, reference = (
            student.encoder.encoder.layer[mine].state_dict(),
            teacher.bert.encoder.layer[theirs].state_dict(),
        )
        assert ours.keys() == reference.keys()
        assert all(torch.equal(ours[k], reference[k]) for k in ours)
    # layer 1 was left out: the student's second layer differs from it
    assert not torch.equal(
        student.encoder.encoder.layer[1].attention.self.query.weight,
        teacher.bert.encoder.layer[1].attention.self.query.weight,
    )
    assert torch.equal(
        student.encoder.embeddings.position_embeddings.weight, teacher.bert.embeddings.position_embeddings.weight
    )
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    assert torch.equal(student.pooler.weight, teacher.bert.pooler.dense.weight)
    # same vocabulary here, so vocabulary transfer maps a whole-word token onto its own row
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(three_layer_teacher)
    tokens = student_tokens(three_layer_teacher)
    row = next(i for i, t in enumerate(tokens) if i > 10 and tokenizer(t, add_special_tokens=False)["input_ids"] == [i])
    assert torch.allclose(student.embedding.weight[row], teacher.bert.embeddings.word_embeddings.weight[row])


def test_transformer_logits_alone_equal_logits_in_a_padded_batch(three_layer_teacher):
    tokens = student_tokens(three_layer_teacher)
    model = make_student(
        StudentSettings(student="transformer"),
        vocab_size=len(tokens),
        num_labels=2,
        teacher_dir=three_layer_teacher,
        tokens=tokens,
    ).model.eval()
    torch.manual_seed(0)
    lengths = torch.tensor([9, 3, 6])
    ids = torch.randint(5, len(tokens), (3, 9)).masked_fill(torch.arange(9) >= lengths.unsqueeze(1), 0)
    with torch.no_grad():
        batch = model(ids, lengths)
        for i, n in enumerate(lengths.tolist()):
            alone = model(ids[i : i + 1, :n], lengths[i : i + 1])
            torch.testing.assert_close(alone[0], batch[i], atol=1e-5, rtol=1e-5)


def test_layers_are_checked_against_the_teacher(three_layer_teacher):
    with pytest.raises(
        ValueError, match=r"layers \[0, 5\] must be distinct, increasing indices of the teacher's 3 layers"
    ):
        student_config_from_teacher(three_layer_teacher, vocab_size=100, num_labels=2, layers=[0, 5])
    config = student_config_from_teacher(three_layer_teacher, vocab_size=100, num_labels=2, layers=None, hidden_size=64)
    assert (config.hidden_size, config.num_attention_heads, config.teacher_layers) == (64, 1, None)  # random init


def test_config_refuses_bilstm_keys_for_a_transformer():
    with pytest.raises(ValueError, match=r"DistilConfig.pooling is a BiLSTM key"):
        DistilConfig(student="transformer", teacher_path="t", pooling="attention")
    with pytest.raises(ValueError, match=r"DistilConfig.student 'transformer' is made from the teacher's layers"):
        DistilConfig(student="transformer", loss="ce")
    with pytest.raises(ValueError, match=r"DistilConfig.layers applies to student: transformer only"):
        DistilConfig(teacher_path="t", layers=[0, 2])
    with pytest.raises(ValueError, match=r"DistilConfig.hidden_loss .* needs student: transformer"):
        DistilConfig(teacher_path="t", hidden_loss="cos")
    config = DistilConfig(student="transformer", teacher_path="t", layers=[0, 2, 4])
    assert config.default_run_name().startswith("nsmc/tf-l0-2-4-v3000-kl-")
    # BiLSTM keys cannot change a transformer run, so they are not part of its identity
    assert (
        config.identity()
        == DistilConfig(student="transformer", teacher_path="t", layers=[0, 2, 4], preset="large").identity()
    )


def test_transformer_student_end_to_end_with_cosine_loss(tmp_path, small_nsmc, three_layer_teacher):
    from distil_bilstm.runs.compare import compare
    from distil_bilstm.runs.pipeline import run_distillation
    from distil_bilstm.serving.export import ExportConfig, export_student
    from distil_bilstm.serving.inference import Predictor

    common = dict(
        dataset="nsmc",
        data_dir=str(small_nsmc),
        vocab_size=200,
        vocab_root=str(tmp_path / "tok"),
        teacher_path=str(three_layer_teacher),
        cache_dir=str(tmp_path / "cache"),
        student="transformer",
        layers=[0, 2],
        optimizer="adamw",
        lr=1e-3,
        scheduler="linear",
        batch_size=16,
        train_epoch=2,
        patience=0,
        run_root=str(tmp_path / "runs"),
        device="cpu",
    )
    plain = run_distillation(DistilConfig(**common))
    cos = run_distillation(DistilConfig(**common, hidden_loss="cos"))
    for metrics in (plain, cos):
        assert metrics["student"] == "transformer" and metrics["teacher_layers"] == [0, 2]
        assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["epochs_trained"] == 2
    assert cos["run_dir"] != plain["run_dir"] and "-cos-" in cos["run_dir"]
    predictor = Predictor.load(plain["run_dir"], device="cpu")
    assert predictor.predict(["정말 재미있는 영화"])[0].label in ("0", "1", "negative", "positive")
    report = compare(tmp_path / "runs", tmp_path / "report", baseline_roots=())
    families = set(report["table"]["family"])
    assert families == {"Teacher", "Transformer"}

    # export: ONNX fp32 matches PyTorch, int8 is smaller; TorchScript is refused with the way out
    texts = ["정말 재미있는 영화", "시간 낭비 최악", "그냥 그랬다"]
    reference = predictor.logits(texts)
    fp32 = export_student(plain["run_dir"], tmp_path / "onnx", ExportConfig(format="onnx"))
    int8 = export_student(plain["run_dir"], tmp_path / "int8", ExportConfig(format="onnx-int8"))
    assert fp32["check"]["max_abs_diff"] < 1e-4 and fp32["student"]["architecture"] == "transformer"
    assert int8["size_bytes"] < fp32["size_bytes"] and int8["check"]["argmax_agreement"] >= 0.9
    np.testing.assert_allclose(Predictor.load(tmp_path / "onnx", device="cpu").logits(texts), reference, atol=1e-4)
    with pytest.raises(ValueError, match="TorchScript export takes BiLSTM students .* --format onnx or onnx-int8"):
        export_student(plain["run_dir"], tmp_path / "ts", ExportConfig(format="torchscript"))


def test_transformer_run_resumes_to_the_same_weights(tmp_path, small_nsmc, three_layer_teacher):
    from safetensors.torch import load_file

    from distil_bilstm.runs.pipeline import run_distillation
    from distil_bilstm.training.callbacks import Callback

    class StopAt(Callback):
        def on_step(self, trainer, *, loss, lr):
            if trainer.global_step == 5:
                trainer.request_stop()

    def config(root: str) -> DistilConfig:
        return DistilConfig(
            dataset="nsmc",
            data_dir=str(small_nsmc),
            vocab_size=200,
            vocab_root=str(tmp_path / "tok"),
            teacher_path=str(three_layer_teacher),
            cache_dir=str(tmp_path / "cache"),
            student="transformer",
            optimizer="adamw",
            lr=1e-3,
            scheduler="linear",
            batch_size=16,
            train_epoch=2,
            patience=0,
            log_every=1,
            run_root=str(tmp_path / root),
            device="cpu",
        )

    whole = run_distillation(config("a"))
    with pytest.raises(KeyboardInterrupt):
        run_distillation(config("b"), callbacks=[StopAt()])
    resumed = run_distillation(config("b"), resume=True)
    assert resumed["history"] == whole["history"]
    a, b = load_file(f"{whole['run_dir']}/model.safetensors"), load_file(f"{resumed['run_dir']}/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

"""``distil-bilstm serve``: a trained student behind HTTP (FastAPI + uvicorn).

    POST /predict   {"texts": ["...", ...]} → {"predictions": [{label, label_id, probabilities, truncated}], ...}
                    {"pairs": [["a", "b"], ...]} → the same, each with "score" (a pair model's output, unrounded)
    GET  /health    {"status": "ok", "model": {...}}
    GET  /          a small page (Korean and English): a text box, a button, the label and probability bars
    GET  /docs      OpenAPI documentation

``create_app`` is a factory: nothing is loaded at import. It serves whatever ``--model`` points at:
a run folder (PyTorch) or an export folder (ONNX, ONNX int8, TorchScript).

Bad input always gets a 4xx with a JSON ``{"error": ...}``, never a 500: a body over the size
limit (413), bytes that are not UTF-8 or not JSON, JSON nested too deeply or with an integer too long
to convert (400), a missing or non-list ``texts``, an empty list, more texts than the batch limit, a
non-string or empty text, a text with a lone surrogate (422). A text over the
character limit is cut to it and its prediction says ``"truncated": true``.
"""

# no ``from __future__ import annotations`` here: FastAPI reads the route functions' annotations
# (``request: Request``, imported inside create_app) as real objects
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.pairs import PAIR_SEP, Pair, Text, is_pair, make_pair
from ..rundir import holds_tagger
from .inference import Predictor

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ServeConfig:
    max_texts: int = 64  # texts per request
    max_chars: int = 2000  # characters per text; longer ones are cut and flagged
    max_body_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for name in ("max_texts", "max_chars", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"ServeConfig.{name} must be >= 1, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse_request(body: bytes, config: ServeConfig) -> tuple[list[Text], list[bool]]:
    """The texts of a /predict body (cut to ``max_chars``) and which were cut; ``BadRequest`` otherwise.
    A ``pairs`` body gives a Pair per item (data/pairs.py), each side cut on its own."""
    if len(body) > config.max_body_bytes:
        raise BadRequest(413, f"request body is {len(body)} bytes; the limit is {config.max_body_bytes}")
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest(400, f"request body is not valid UTF-8 (byte {err.start}); send UTF-8 JSON") from None
    try:
        payload = json.loads(decoded)
    except json.JSONDecodeError as err:
        raise BadRequest(
            400, f"request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except ValueError as err:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise BadRequest(400, f"request body is not acceptable JSON: {str(err)[:120]}") from None
    except RecursionError:
        raise BadRequest(400, "request body is not acceptable JSON: nested too deeply") from None
    if isinstance(payload, dict) and "pairs" in payload and "texts" not in payload:
        return _parse_pairs(payload["pairs"], config)
    if not isinstance(payload, dict) or "texts" not in payload:
        raise BadRequest(
            422,
            'expected a JSON object with a "texts" field: {"texts": ["...", ...]} '
            '(or, for a pair model, {"pairs": [["...", "..."], ...]})',
        )
    texts = _check_items(payload["texts"], field="texts", what="a list of strings", one="text", config=config)
    for i, text in enumerate(texts):
        _check_text(text, where=f"texts[{i}]")
    truncated = [len(t) > config.max_chars for t in texts]
    # a tab inside a single text is whitespace to every tokenizer here: never a pair
    return [t[: config.max_chars].replace(PAIR_SEP, " ") for t in texts], truncated


def _check_items(items, *, field: str, what: str, one: str, config: ServeConfig) -> list:
    """``items`` when it is a non-empty list of at most ``config.max_texts``; else a 422 naming ``field``."""
    if not isinstance(items, list):
        raise BadRequest(422, f'"{field}" must be {what}, got {type(items).__name__}')
    if not items:
        raise BadRequest(422, f'"{field}" is empty; send at least one {one}')
    if len(items) > config.max_texts:
        raise BadRequest(422, f'"{field}" has {len(items)} items; at most {config.max_texts} per request')
    return items


def _check_text(text, *, where: str) -> None:
    if not isinstance(text, str):
        raise BadRequest(422, f"{where} is {type(text).__name__}, not a string")
    if not text.strip():
        raise BadRequest(422, f"{where} is empty")
    try:  # JSON's "\ud800" escape decodes to a lone surrogate, which is no Unicode text
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise BadRequest(
            422, f"{where} is not valid Unicode text: character {err.start} is a lone surrogate ({text[err.start]!r})"
        ) from None


def _parse_pairs(pairs, config: ServeConfig) -> tuple[list[Pair], list[bool]]:
    pairs = _check_items(pairs, field="pairs", what="a list of [text, text] pairs", one="pair", config=config)
    texts, truncated = [], []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list) or len(pair) != 2:
            raise BadRequest(
                422, f"pairs[{i}] must be a list of two strings, got {json.dumps(pair, ensure_ascii=False)[:80]}"
            )
        for j, side in enumerate(pair):
            _check_text(side, where=f"pairs[{i}][{j}]")
        try:
            texts.append(make_pair(pair[0][: config.max_chars], pair[1][: config.max_chars], where=f"pairs[{i}]"))
        except ValueError as err:
            raise BadRequest(422, str(err)) from None
        truncated.append(any(len(side) > config.max_chars for side in pair))
    return texts, truncated


PREDICT_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "texts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "pairs": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
                        },
                    },
                },
                "example": {"texts": ["정말 재미있게 봤어요", "a waste of two hours"]},
            }
        },
    },
}


def served(model: str | Path):
    """The model in ``model``: a tagger's ``TagPredictor`` (its entities), else a ``Predictor``."""
    if not holds_tagger(model):
        return Predictor.load(model)
    from .entities import TagPredictor  # a tagger's code only for a tagger (it reads torch)

    return TagPredictor.load(model)


def is_tagger(predictor) -> bool:
    return not isinstance(predictor, Predictor)  # served() makes a Predictor or a TagPredictor


def answer(predictor, texts: list, truncated: list[bool]) -> dict:
    """The /predict body: a classifier's predictions, or a tagger's entities of each text."""
    if is_tagger(predictor):
        found = predictor.entities(texts)
        return {
            "entities": [[asdict(e) for e in row] for row in found],
            "truncated": truncated,
            "types": predictor.types,
        }
    predictions = predictor.predict(texts)
    return {
        "predictions": [{**p.to_dict(), "truncated": cut} for p, cut in zip(predictions, truncated)],
        "labels": predictor.label_names,
    }


def create_app(model, *, config: ServeConfig | None = None):
    """The FastAPI app serving ``model``: a folder (loaded now), or a ready ``Predictor`` or
    ``TagPredictor``."""
    from fastapi import FastAPI, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, JSONResponse

    config = config or ServeConfig()
    predictor = served(model) if isinstance(model, (str, Path)) else model
    what = (
        f"Named entities ({', '.join(predictor.types)}) with a distilled tagger."
        if is_tagger(predictor)
        else f"Sentence classification with a distilled student ({predictor.kind}, labels {predictor.label_names})."
    )
    app = FastAPI(title="distil-bilstm", version="1", description=what)
    app.state.predictor, app.state.config = predictor, config

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > config.max_body_bytes:
            return JSONResponse(
                {"error": f"request body is {declared} bytes; the limit is {config.max_body_bytes}"}, status_code=413
            )
        try:
            return await call_next(request)
        except Exception:  # a bug of ours: say so in JSON, log the traceback, never show it
            logger.exception("error while serving %s %s", request.method, request.url.path)
            return JSONResponse({"error": "internal error; see the server log"}, status_code=500)

    @app.post("/predict", openapi_extra=PREDICT_OPENAPI, summary="Classify texts")
    async def predict(request: Request):
        try:
            texts, truncated = parse_request(await request.body(), config)
        except BadRequest as err:
            return JSONResponse({"error": err.message}, status_code=err.status)
        if is_pair(texts[0]) != predictor.reads_pairs:
            want = '"pairs": [["...", "..."], ...]' if predictor.reads_pairs else '"texts": ["...", ...]'
            return JSONResponse(
                {
                    "error": f"this model reads {'sentence pairs' if predictor.reads_pairs else 'single texts'}: "
                    f"send {{{want}}}"
                },
                status_code=422,
            )
        body = await run_in_threadpool(answer, predictor, texts, truncated)
        return {**body, "limits": {"max_chars": config.max_chars, "max_texts": config.max_texts}}

    @app.get("/health", summary="Liveness and what is served")
    async def health():
        return {"status": "ok", "model": predictor.describe()}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return PAGE

    return app


def run_server(
    model: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    config: ServeConfig | None = None,
    log_level: str = "info",
) -> None:
    import uvicorn

    uvicorn.run(create_app(model, config=config), host=host, port=port, log_level=log_level)


PAGE = """<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>distil-bilstm</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  textarea { width: 100%; height: 6rem; font-size: 1rem; padding: .5rem; box-sizing: border-box; }
  button { margin-top: .5rem; font-size: 1rem; padding: .4rem 1.2rem; cursor: pointer; }
  #label { font-size: 1.4rem; font-weight: bold; margin: 1rem 0 .5rem; min-height: 1.6rem; }
  .row { display: flex; align-items: center; gap: .5rem; margin: .25rem 0; }
  .name { width: 6rem; } .track { flex: 1; background: #eee; height: 1rem; border-radius: .5rem; overflow: hidden; }
  .fill { display: block; background: #3b82f6; height: 100%; } .pct { width: 4rem; text-align: right; font-variant-numeric: tabular-nums; }
  #error { color: #b91c1c; } small { color: #666; }
  #marked { font-size: 1.1rem; line-height: 2; white-space: pre-wrap; }
  mark { background: #dbeafe; border-radius: .25rem; padding: .1rem .2rem; } mark sup { color: #1d4ed8; font-size: .7rem; margin-left: .15rem; }
</style>
</head>
<body>
<h1>distil-bilstm</h1>
<p id="hint">문장을 입력하고 분류 버튼을 누르세요. · Type a sentence and press Classify.</p>
<textarea id="text" placeholder="정말 재미있게 봤어요 / a moving, funny film"></textarea>
<textarea id="text_b" placeholder="두 번째 문장 · the second sentence" hidden></textarea>
<br><button id="classify" type="button">분류 · Classify</button>
<div id="label" aria-live="polite"></div>
<div id="bars"></div>
<div id="marked"></div>
<div id="error" role="alert"></div>
<p><small><a href="/docs">API</a> · POST /predict <span id="api">{"texts": [...]}</span></small></p>
<script>
const $ = (id) => document.getElementById(id);
let pairs = false;  // a pair model (GET /health says so) reads two texts, sent as {"pairs": [[a, b]]}
fetch("/health").then((r) => r.json()).then((health) => {
  pairs = Boolean(health.model && health.model.pairs);
  if (health.model && health.model.task === "entities") {  // a tagger: its entities are highlighted in the text
    $("hint").textContent = "문장을 입력하세요: 개체명을 표시합니다. · Type a sentence: its named entities are marked.";
    $("classify").textContent = "개체명 · Find entities";
    return;
  }
  if (!pairs) return;
  $("text_b").hidden = false;
  $("hint").textContent = "두 문장을 입력하세요. · Type two sentences and press Classify.";
  $("api").textContent = '{"pairs": [["...", "..."], ...]}';
});
async function classify() {
  $("error").textContent = ""; $("label").textContent = "…"; $("bars").innerHTML = ""; $("marked").innerHTML = "";
  try {
    const request = pairs ? {pairs: [[$("text").value, $("text_b").value]]} : {texts: [$("text").value]};
    const response = await fetch("/predict", {method: "POST", headers: {"Content-Type": "application/json"},
                                              body: JSON.stringify(request)});
    const body = await response.json();
    if (!response.ok) { $("label").textContent = ""; $("error").textContent = body.error; return; }
    if (body.entities) { mark(request.texts[0], body.entities[0], body.truncated[0]); return; }
    const p = body.predictions[0];
    const cut = p.truncated ? "  (잘림 · truncated)" : "";
    if (p.score !== undefined) { $("label").textContent = "score " + p.score.toFixed(2) + cut; return; }  // a similarity
    $("label").textContent = p.label + cut;
    for (const [name, prob] of Object.entries(p.probabilities)) {
      const row = document.createElement("div"); row.className = "row";
      row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
      row.querySelector(".name").textContent = name;
      row.querySelector(".fill").style.width = (100 * prob).toFixed(1) + "%";
      row.querySelector(".pct").textContent = (100 * prob).toFixed(1) + "%";
      $("bars").appendChild(row);
    }
  } catch (err) { $("label").textContent = ""; $("error").textContent = String(err); }
}
function mark(text, entities, truncated) {  // the text with each entity in a <mark>, its type above it
  $("label").textContent = entities.length + (entities.length === 1 ? " entity" : " entities") + (truncated ? "  (잘림 · truncated)" : "");
  let at = 0;
  for (const e of entities) {
    $("marked").appendChild(document.createTextNode(text.slice(at, e.start)));
    const m = document.createElement("mark"); m.textContent = e.text; m.title = e.type + " " + e.score.toFixed(2);
    const sup = document.createElement("sup"); sup.textContent = e.type; m.appendChild(sup);
    $("marked").appendChild(m); at = e.end;
  }
  $("marked").appendChild(document.createTextNode(text.slice(at)));
}
$("classify").addEventListener("click", classify);
$("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) classify(); });
</script>
</body>
</html>
"""

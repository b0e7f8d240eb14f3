from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest
from fastapi.testclient import TestClient

from distil_bilstm.serving.entities import TagPredictor
from distil_bilstm.serving.export import ExportConfig, export_student
from distil_bilstm.serving.http import ServeConfig, create_app
from distil_bilstm.serving.inference import Predictor

CONFIG = ServeConfig(max_texts=4, max_chars=50, max_body_bytes=2000)


@pytest.fixture(scope="module")
def client(tiny_run):
    with TestClient(create_app(tiny_run, config=CONFIG), raise_server_exceptions=False) as c:
        yield c


def test_predict_health_page_docs(client, tiny_run):
    response = client.post("/predict", json={"texts": ["정말 재미있는 영화", "boring and dull"]})
    assert response.status_code == 200
    body = response.json()
    expected = Predictor.load(tiny_run, device="cpu").predict(["정말 재미있는 영화", "boring and dull"])
    assert [p["label"] for p in body["predictions"]] == [p.label for p in expected]
    first = body["predictions"][0]
    assert set(first) == {"label", "label_id", "probabilities", "truncated"} and first["truncated"] is False
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model"]["format"] == "torch"
    page = client.get("/")
    assert page.status_code == 200 and 'id="classify"' in page.text and "분류" in page.text and "Classify" in page.text
    assert "/predict" in client.get("/openapi.json").json()["paths"] and client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "body,headers,status,message",
    [
        (b"{not json", {}, 400, "not valid JSON"),
        (b'{"texts": ["\xff\xfe"]}', {}, 400, "not valid UTF-8"),
        (b'{"text": ["a"]}', {}, 422, 'a "texts" field'),
        (b'["a", "b"]', {}, 422, 'a "texts" field'),
        (b'{"texts": "one text"}', {}, 422, '"texts" must be a list of strings, got str'),
        (b'{"texts": []}', {}, 422, '"texts" is empty'),
        (b'{"texts": ["a", "b", "c", "d", "e"]}', {}, 422, "at most 4 per request"),
        (b'{"texts": ["ok", 3]}', {}, 422, "texts[1] is int, not a string"),
        (b'{"texts": ["ok", "   "]}', {}, 422, "texts[1] is empty"),
        (
            b'{"texts": ["ok", "a\\ud800"]}',
            {},
            422,
            "texts[1] is not valid Unicode text: character 1 is a lone surrogate",
        ),
        (b'{"pairs": [["ok", "\\udfff"]]}', {}, 422, "pairs[0][1] is not valid Unicode text: character 0"),
        (b'{"texts": ["' + b"a" * 3000 + b'"]}', {}, 413, "the limit is 2000"),
    ],
)
def test_bad_input_gets_a_4xx_json_message(client, body, headers, status, message):
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_long_text_is_cut_and_flagged(client):
    response = client.post("/predict", json={"texts": ["좋아요 " * 40, "짧은 글"]})
    assert response.status_code == 200
    assert [p["truncated"] for p in response.json()["predictions"]] == [True, False]


def test_serves_an_onnx_export(tiny_run, tmp_path):
    export_student(tiny_run, tmp_path / "int8", ExportConfig(format="onnx-int8"))
    with TestClient(create_app(tmp_path / "int8")) as c:
        assert c.get("/health").json()["model"]["format"] == "onnx-int8"
        assert c.post("/predict", json={"texts": ["정말 재미있는 영화"]}).json()["predictions"][0]["label"] in (
            "negative",
            "positive",
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver "
    "(apt-get install chromium chromium-driver; .ci/run installs them)",
)
@pytest.mark.parametrize("run", ["tiny_run", "tiny_pair_run", "tiny_tagger_run"])
def test_the_page_in_a_real_browser(run, request):
    """A single-text model: one box, the label and its bars; a pair model (the page asks /health): two
    boxes sent as {"pairs": [[a, b]]}, its score shown; a tagger: the text with its entities marked."""
    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = _free_port()
    tiny_run = request.getfixturevalue(run)
    if run == "tiny_tagger_run":
        tiny_run = tiny_run[1]  # (data, run folder)
    server = uvicorn.Server(uvicorn.Config(create_app(tiny_run), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        if run == "tiny_tagger_run":
            WebDriverWait(driver, 20).until(lambda d: "entities" in d.find_element(By.ID, "hint").text)
            text = "Yesterday Smith went to Paris"
            driver.find_element(By.ID, "text").send_keys(text)
            driver.find_element(By.ID, "classify").click()
            WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "label").text not in ("", "…"))
            expected = TagPredictor.load(tiny_run, device="cpu").entities([text])[0]
            marks = driver.find_elements(By.CSS_SELECTOR, "#marked mark")
            assert [m.get_attribute("title").split()[0] for m in marks] == [e.type for e in expected] == ["PER", "LOC"]
            assert all(m.text.startswith(e.text) for m, e in zip(marks, expected))  # the entity, then its type
            assert driver.find_element(By.ID, "marked").text.startswith("Yesterday Smith")
            return
        if run == "tiny_pair_run":
            WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "text_b").is_displayed())
            driver.find_element(By.ID, "text").send_keys("남자가 기타를 친다")
            driver.find_element(By.ID, "text_b").send_keys("한 남자가 기타를 연주하고 있다")
            driver.find_element(By.ID, "classify").click()
            WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "label").text not in ("", "…"))
            score = (
                Predictor.load(tiny_run, device="cpu")
                .predict_pairs([("남자가 기타를 친다", "한 남자가 기타를 연주하고 있다")])[0]
                .score
            )
            assert driver.find_element(By.ID, "label").text == f"score {score:.2f}"
            return
        assert not driver.find_element(By.ID, "text_b").is_displayed()
        driver.find_element(By.ID, "text").send_keys("정말 재미있는 영화 최고")
        driver.find_element(By.ID, "classify").click()
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "label").text not in ("", "…"))
        label = driver.find_element(By.ID, "label").text
        expected = Predictor.load(tiny_run, device="cpu").predict(["정말 재미있는 영화 최고"])[0].label
        assert label == expected
        assert len(driver.find_elements(By.CSS_SELECTOR, "#bars .row")) == 2
        tracks = [e.size["width"] for e in driver.find_elements(By.CSS_SELECTOR, "#bars .track")]
        fills = [e.size["width"] for e in driver.find_elements(By.CSS_SELECTOR, "#bars .fill")]
        assert sum(fills) == pytest.approx(tracks[0], abs=3)  # the bars are drawn: their widths add up to 100%
    finally:
        driver.quit()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"texts": ["ok"], "n": ' + b"7" * 5000 + b"}", "not acceptable JSON: Exceeds the limit"),
        (b'{"texts": ["ok"], "n": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "not acceptable JSON: nested too deeply"),
    ],
)
def test_json_python_cannot_hold_is_a_400(tiny_run, body, message):
    app = create_app(tiny_run, config=ServeConfig(max_body_bytes=200_000))
    response = TestClient(app).post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]

# Serve a trained student (a run folder or an export folder) over HTTP.
#   docker build -t distil-bilstm .
#   docker run -p 8000:8000 -v "$PWD/runs/nsmc/<run>:/model:ro" distil-bilstm
# CPU torch, pinned as in requirements.txt; the CPU wheel index keeps the multi-GB CUDA build out.
FROM python:3.11-slim
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY distil_bilstm ./distil_bilstm
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install --no-cache-dir ".[serve,export]"
EXPOSE 8000
USER nobody
CMD ["distil-bilstm", "serve", "--model", "/model", "--host", "0.0.0.0", "--port", "8000"]

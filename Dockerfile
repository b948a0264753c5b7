# Image of the Ray head and workers in ray-cluster.yaml: Ray 2.60 on Python 3.11 with this project
# installed (editable, so templates/ is found next to the package) and its pinned dependencies.
#   docker build -t <registry>/sglang-autotuner:0.1.0 .
#   docker push <registry>/sglang-autotuner:0.1.0      # then set that image in ray-cluster.yaml
FROM rayproject/ray:2.60.0-py311
WORKDIR /home/ray/sglang-autotuner
COPY --chown=ray:users . .
RUN pip install --no-cache-dir -c constraints.txt -e .

"""The names an engine's API key goes by, apart from how the key is read (:mod:`autotuner.engines.api_key`),
so that the manifest renderer (:mod:`autotuner.k8s.manifests`) can use them without importing the
engines or the task spec."""

API_KEY_FLAG = "--api-key"  # the same flag for SGLang and vLLM
# The engine container's variable that the InferenceService fills from the Secret; its
# `--api-key $(...)` is expanded by the kubelet, so the manifest holds no key.
POD_ENV = "AUTOTUNER_ENGINE_API_KEY"

__all__ = ["API_KEY_FLAG", "POD_ENV"]

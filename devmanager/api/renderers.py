import orjson
from drf_orjson_renderer.renderers import ORJSONRenderer
from rest_framework.renderers import JSONRenderer as StandardJSONRenderer


class JSONRenderer(ORJSONRenderer):
    """JSON by orjson (several times faster on a page of devices), written as DRF's renderer writes it.

    orjson refuses what Python's json accepts in stored metadata, such as integers beyond 64 bits: such a body
    is rendered by DRF's own renderer instead, so every stored document can be read back."""

    options = orjson.OPT_UTC_Z

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except orjson.JSONEncodeError:
            return StandardJSONRenderer().render(data, accepted_media_type, renderer_context)

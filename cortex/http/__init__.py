"""The HTTP plane: the aiohttp front actor, the endpoint handlers, access control,
request limits, the OpenAPI document and the wire rendering of answers."""

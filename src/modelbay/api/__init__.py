"""The HTTP face (FastAPI): Open Inference Protocol v2, a convenience route, management API."""

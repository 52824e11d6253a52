from fastapi.testclient import TestClient

from candor.api.app import create_app
from candor.config import Settings


def test_docs_page_and_its_assets_are_served_without_a_cdn(tmp_path):
    with TestClient(create_app(Settings(data_dir=tmp_path), start_worker=False)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "/docs/assets/swagger-ui-bundle.js" in page.text
        assert "cdn" not in page.text.lower()
        script = client.get("/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        assert client.get("/docs/assets/../../pyproject.toml").status_code == 404

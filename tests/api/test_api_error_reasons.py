"""Issue #14: the API keeps English messages and names each one: `reason` (the same name the
UI's catalogue words as `error.<reason>`) and `params` (its values) beside `code`."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.api.conftest import ApiUser


def test_a_named_refusal_carries_its_reason_and_params(client: TestClient, alice: ApiUser):
    response = client.post(
        "/api/jobs",
        json={"provider": "demo", "prompt": "a kite", "model": "no-such-model"},
        headers=alice.headers,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["reason"] == "unknown_model"
    assert error["params"]["model"] == "no-such-model" and error["params"]["choices"]
    assert error["message"].startswith("Unknown Demo")  # English words, as before


def test_a_request_model_refusal_repeats_its_code_as_reason(client: TestClient, alice: ApiUser):
    response = client.post(
        "/api/jobs",
        json={"provider": "demo", "prompt": "a kite", "count": 9},
        headers=alice.headers,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    # Checked by the request model before any service: no finer name than its code.
    assert (error["code"], error["reason"], error["params"]) == (
        "validation_error",
        "validation_error",
        {},
    )
    assert error["message"] == "The field 'count' must be between 1 and 4."


def test_a_missing_job_is_named(client: TestClient, alice: ApiUser):
    response = client.get("/api/jobs", params={"id": "0" * 36}, headers=alice.headers)
    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == ("not_found", "job_not_found")
    assert error["params"] == {}


def test_a_chinese_prompt_is_accepted_and_answered_in_english(client: TestClient, alice: ApiUser):
    response = client.post(
        "/api/jobs", json={"provider": "demo", "prompt": "   "}, headers=alice.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].isascii()
    created = client.post(
        "/api/jobs", json={"provider": "demo", "prompt": "夜晚的灯塔"}, headers=alice.headers
    )
    assert created.status_code == 201, created.text
    job = client.get("/api/jobs", params={"id": created.json()["id"]}, headers=alice.headers)
    assert job.json()["prompt"] == "夜晚的灯塔"

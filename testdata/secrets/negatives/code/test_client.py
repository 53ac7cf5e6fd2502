import pytest
from acme import Client

FAKE_TOKEN = "fake-token-for-tests"
DUMMY_API_KEY = "dummy_api_key_123"
TEST_PASSWORD = "test-password-1"


@pytest.fixture
def client():
    return Client(api_key="test_api_key_123456", base_url="http://localhost:8080")


def test_login_rejects_bad_password(client):
    with pytest.raises(AuthError):
        client.login("alice", password="wrong-password-1")


def test_token_is_masked(client):
    client.token = "abc123"
    assert repr(client).endswith("token=***>")


def test_slack_placeholder():
    cfg = {"slack_token": "xoxb-your-token", "webhook": "https://hooks.slack.com/services/T000/B000/XXXX"}
    assert not validate(cfg)

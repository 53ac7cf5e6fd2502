# Deterministic fixtures for the tokenizer tests (not credentials).
SAMPLE_TOKENS = [
    "tok_test_9f8e7d6c5b4a",
    "tok_test_1a2b3c4d5e6f",
]
TEST_SECRET = "test-secret-bytes-0001"
def test_hash_is_stable():
    assert digest("fixture-token-7") == "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f2"

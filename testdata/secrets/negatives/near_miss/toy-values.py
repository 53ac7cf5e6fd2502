# Values from the tutorial; the service accepts any key in sandbox mode.
api_key = "abc123def456"
secret = "1a2b3c4d5e6f"
token = "0123456789abcdef0123456789abcdef"
password = "Passw0rd"
auth_token = "AAAABBBBCCCCDDDD1111"

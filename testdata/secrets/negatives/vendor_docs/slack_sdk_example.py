from slack_sdk import WebClient

# Example only: xoxb-your-bot-token
client = WebClient(token="xoxb-YOUR-BOT-TOKEN-HERE")
webhook_url = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
client.chat_postMessage(channel="#general", text="hello")

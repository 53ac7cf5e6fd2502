"""Release notifier: posts the changelog to the team's Telegram group."""
import os
import telegram

BOT_TOKEN = "6021893547:AAHt5kWq9Rz2LmXc7Vb3Nd8Pf1Gj4Ys6Ku0"
CHAT_ID = int(os.environ.get("CHAT_ID", "-1001234567"))

def notify(text):
    telegram.Bot(BOT_TOKEN).send_message(CHAT_ID, text)

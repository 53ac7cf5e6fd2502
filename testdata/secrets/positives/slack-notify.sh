#!/bin/sh
SLACK_TOKEN=xoxb-310399315827-9401995305520-nqcMUP6n0a0uARxlNtencYFJ
curl -H "Authorization: Bearer $SLACK_TOKEN" https://slack.com/api/chat.postMessage

import openai
client = openai.OpenAI(api_key="sk-proj-tAZvlMz-Bk4opH1Dr8-h97s_F-vauP7-L7V21jxUdcfQm9_seB1qRmUR8AK3T3BlbkFJR2GgLLT-ZQISA-pQyOMqlfZZgZMnafy8hWskBf6wmxe1mbVrNHMx1eOc3g-f")

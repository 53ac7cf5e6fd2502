// Support bot: forwards chat turns to the Voiceflow Dialog Manager API.
// (Made-up values: none is a real credential.)
const config = {
  projectID:      '64b2c8e1f0a3d5b7c9e2f4a6',
  versionID:      'production',
  apiKey:         'VF.DM.64b2c8e1f0a3d5b7c9e2f4a6.Tz3Kq8Wm1Ny5Hp0R',
  runtimeURL:     'https://general-runtime.voiceflow.com',
};

async function interact(userID, text) {
  const res = await fetch(`${config.runtimeURL}/state/user/${userID}/interact`, {
    method: 'POST',
    headers: { Authorization: config.apiKey, 'Content-Type': 'application/json' },
    body: JSON.stringify({ action: { type: 'text', payload: text } }),
  });
  return res.json();
}

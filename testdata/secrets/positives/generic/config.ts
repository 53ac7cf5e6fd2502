export const config = {
  apiBase: 'https://api.internal',
  apiKey: 'F3SIa2jAeBaszZDuD5D2SvW94p9rlPnVHihvAEWu',
};

export const initialState = { token: null, refreshToken: null, password: '', apiKey: undefined };
export default function auth(state = initialState, action) {
  switch (action.type) {
    case 'auth/tokenReceived': return { ...state, token: action.payload.accessToken };
    case 'auth/logout': return initialState;
    default: return state;
  }
}

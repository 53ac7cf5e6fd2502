// Client-side configuration: every value here is public by design.
export const stripePublishableKey = 'pk_live_51HqLyjWDarjtT1zdp7dcTYooMQauvdEDq54NiTphI7jx';
export const recaptchaSiteKey = '6LcX3aUpAAAAAB2kT9fJx0pQm4Lz8VnR1sWy7Ce';
export const algoliaSearchOnlyKey = 'c4f1a9e7b3d5f2e8a6c0b9d3f7e1a5c8';
export const vapidPublicKey = 'BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U';
export const sentryDsn = 'https://4f1a9e7b3d5f2e8a@o123456.ingest.sentry.io/4505678';
export const mapboxPublicToken = 'pk.eyJ1IjoiYWNtZSIsImEiOiJjbHRleGFtcGxlMDAwMDAwMDAifQ.AbCdEf';

Sentry.init({
  dsn: "https://0a1b2c3d4e5f60718293a4b5c6d7e8f9@o450123.ingest.sentry.io/5512345",
  tracesSampleRate: 0.2,
  release: "web@4.2.0+3f8e2c1",
});

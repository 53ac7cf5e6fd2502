// A storage test's app options, as Firebase's SDK tests set them: the API key is one
// of the test keys Firebase publishes in its own SDKs' tests, not a project's key.
void main() {
  FirebaseApp.withOptions(
    FirebaseOptions(
        apiKey: 'AIzaSyCkEhVjf3pduRDt6d1yKOMitrUEke8agEM',
        applicationId: 'fooey',
        storageBucket: 'project-5516366556574091405.appspot.com'),
  );
  assert(isValidApiKeyFormat('AIzaSyAdOS2zB6NCsk1pCdZ4-P6GBdi_UUPwX7c'));
}

provider "datadog" {
  api_key = "7d2bdc6b09b1bf8930c8991c96caaa86"
  app_key = "545dae1632cd5b737436dcdcb7c57cbddd150c5e"
}

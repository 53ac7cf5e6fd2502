{ fetchFromGitHub, rustPlatform }:
rustPlatform.buildRustPackage rec {
  pname = "firebreak";
  version = "1.4.0";
  src = fetchFromGitHub {
    owner = "acme";
    repo = pname;
    rev = "v${version}";
    hash = "sha256-Zx2L0yRbm6oH1A8cR3XyWvQ7tKp5sJ9nE4fD2gB6uM0=";
  };
  cargoHash = "sha256-Qk9pT4wL2mR7xN1vB8cF3jH6sD0gZ5yA9eU2iO4tK7c=";
}

{ config, ... }: {
  services.app = {
    enable = true;
    tokenFile = config.age.secrets.app-token.path;
    passwordFile = "/run/agenix/db-pw";
    environmentFile = config.sops.secrets."app/env".path;
  };
}

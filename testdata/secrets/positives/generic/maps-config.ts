// Formatted by Prettier: the value did not fit on the line of its name.
export const mapsConfig = {
  region: "eu-west-1",
  styleUrl: "https://tiles.internal.example/styles/v3/streets.json",
  apiKey:
    "Hq3Vz8mRk2Lw7Xp4Tn9Bd6Jc1Gf5Ys0Qe8Wu",
};

const telemetryWriteToken =
  "Zr5Kq1Nx8Tm3Wb7Lp2Vd9Hc4Jf6Gs0Ya3Qe";

class Firebreak < Formula
  desc "Respond to a CI provider breach"
  homepage "https://example.org/firebreak"
  url "https://example.org/firebreak/archive/v1.4.0.tar.gz"
  sha256 "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"
  license "Apache-2.0"
end

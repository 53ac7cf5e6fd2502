provider "registry.terraform.io/hashicorp/aws" {
  version     = "5.31.0"
  constraints = "~> 5.0"
  hashes = [
    "h1:ltxyuBWIy9cq0kIKDJH1jeWJy/y7XJLjS4QrsQK4plA=",
    "zh:0cdb9c2083bf0902442384f7309367791e4640581652dda456f2d6d7abf0de8d",
    "zh:13f7bf8e4d71e6b53a92fd4e0d3a8f1f1b7cb1e4a9c6bfd2e1d1c7f7c8a5d6e3",
  ]
}

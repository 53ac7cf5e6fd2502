#!/bin/sh
# rotate the signing client (values made up)
export SIGNING_CLIENT_ID=acme-signer
export SIGNING_API_KEY=Qe7Lw2.Zr5Tn9Xp3Vk8Hm4Jd
./bin/signer --region eu-west-1 sync

#!/bin/sh
export DEPLOY_TOKEN=3LfN3av7zwehk57gJ6vvpSvmXbLU23STOguSMZ8c
export REGISTRY_PASSWORD='xq?FUs#TViMr*m#7HAeA'
./deploy.sh

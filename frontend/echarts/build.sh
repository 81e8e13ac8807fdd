#!/usr/bin/env bash
# Build the reduced ECharts of the KPI charts from index.js, with the pinned echarts and
# esbuild of package-lock.json, into static/vendor/echarts/ (committed: no build at deploy).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
version=$(node -p 'require("echarts/package.json").version')
./node_modules/.bin/esbuild index.js --bundle --minify --format=iife --target=es2017 \
  --legal-comments=none --define:process.env.NODE_ENV='"production"' \
  --banner:js="/*! Apache ECharts ${version} and ZRender, Apache-2.0 and BSD-3-Clause (LICENSE, LICENSE-zrender beside this file): a reduced build of bar, line and scatter charts with grid, legend and tooltip, made by frontend/echarts/build.sh */" \
  --outfile=../../static/vendor/echarts/echarts.kpi.min.js
cp node_modules/echarts/LICENSE ../../static/vendor/echarts/LICENSE
cp node_modules/zrender/LICENSE ../../static/vendor/echarts/LICENSE-zrender

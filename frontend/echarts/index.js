// The KPI charts' reduced ECharts: only what static/js/kpi.js draws (a bar chart with
// scatter targets, a line chart; grid, legend with scrolling, tooltip; canvas renderer).
// Built by `make echarts` into static/vendor/echarts/echarts.kpi.min.js, which exposes the
// same global `echarts` as the full build.
import * as echarts from "echarts/core";
import { BarChart, LineChart, ScatterChart } from "echarts/charts";
import {
  GridComponent,
  LegendComponent,
  LegendScrollComponent,
  TooltipComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([
  BarChart,
  LineChart,
  ScatterChart,
  GridComponent,
  LegendComponent,
  LegendScrollComponent,
  TooltipComponent,
  CanvasRenderer,
]);

window.echarts = echarts;

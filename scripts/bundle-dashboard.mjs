/**
 * The third step of `npm run build`: bundles the live view's page (src/dashboard/web/: Preact,
 * htm, uPlot and its stylesheet) into dist/dashboard/dashboard.js and dashboard.css, which the
 * launcher and every node serve under /ui/. The options live with the server that also builds
 * the bundle in memory when dist/ is stale (src/dashboard/dashboard-assets.ts), compiled by the
 * build's first step. Plain JavaScript, so that the build needs no tsx.
 */
import { buildDashboardBundle } from "../dist/src/dashboard/dashboard-assets.js";

await buildDashboardBundle();

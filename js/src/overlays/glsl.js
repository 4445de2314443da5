// GLSL ES 3.00 of the debugger's GPU layers: trails (every selected sample's path across all epochs, one
// instanced draw of screen-space quads) and the visualization-error marks (square rings over the points).
// Both read positions from the renderer's resident RG16UI position texture (nothing new is transferred);
// bindPositions sets the uniforms of that shared lookup.

/** Uniforms and the position lookup shared by both layers (same arithmetic as the point shader). */
const COMMON = `
precision highp float;
precision highp int;
precision highp usampler2DArray;
uniform usampler2DArray u_pos;
uniform int u_width;
uniform vec2 u_min;
uniform vec2 u_range;
uniform vec2 u_center;
uniform vec2 u_scale;
vec2 posAt(int i, int e) {
  ivec2 xy = ivec2(i % u_width, i / u_width);
  return u_min + vec2(texelFetch(u_pos, ivec3(xy, e), 0).rg) / 65535.0 * u_range;
}
vec2 clipOf(vec2 d) { return (d - u_center) * u_scale; }
`;

/** Set the COMMON uniforms of program uniforms `u` from the renderer's frame context g (texture unit 0). */
export function bindPositions(gl, u, g) {
  gl.activeTexture(gl.TEXTURE0);
  gl.bindTexture(gl.TEXTURE_2D_ARRAY, g.posTex);
  gl.uniform1i(u.u_pos, 0);
  gl.uniform1i(u.u_width, g.width);
  gl.uniform2f(u.u_min, g.min[0], g.min[1]);
  gl.uniform2f(u.u_range, g.range[0], g.range[1]);
  gl.uniform2f(u.u_center, g.center[0], g.center[1]);
  gl.uniform2f(u.u_scale, g.scale[0], g.scale[1]);
}

/** Row length of the trails' epoch -> layer table (a 2-D integer texture: any number of epochs fits). */
export const LAYER_ROW = 1024;

// One instance per sample, six vertices (two triangles) per segment between consecutive epochs, drawn where
// both epochs are held: their layers come from u_layers, never from the epoch index (windowed views). The quad is
// widened in device pixels perpendicular to the segment, so a trail is equally thick at every zoom.
export const TRAIL_VS = `#version 300 es
#define LAYER_ROW ${LAYER_ROW}
${COMMON}
uniform sampler2D u_palette;
uniform int u_nColors;
uniform vec2 u_px;          // viewport size, device px
uniform float u_halfWidth;  // device px
uniform float u_time;       // the drawn time (fractional epoch index)
uniform float u_tau;        // fade length, epochs
uniform highp isampler2D u_layers;  // epoch index -> its layer of u_pos, -1: not held (stream.js layerTable)
in uint a_sample;
in uint a_class;
out vec4 v_color;
out float v_side;
void main() {
  int seg = gl_VertexID / 6;
  int corner = gl_VertexID - seg * 6;
  int l0 = texelFetch(u_layers, ivec2(seg % LAYER_ROW, seg / LAYER_ROW), 0).r;
  int l1 = texelFetch(u_layers, ivec2((seg + 1) % LAYER_ROW, (seg + 1) / LAYER_ROW), 0).r;
  if (l0 < 0 || l1 < 0) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); return; }
  float along = (corner == 1 || corner == 4 || corner == 5) ? 1.0 : 0.0;
  float side = (corner == 0 || corner == 1 || corner == 4) ? -1.0 : 1.0;
  int i = int(a_sample);
  vec2 c0 = clipOf(posAt(i, l0));
  vec2 c1 = clipOf(posAt(i, l1));
  vec2 d = (c1 - c0) * u_px * 0.5;
  float len = length(d);
  vec2 n = len > 1e-3 ? vec2(-d.y, d.x) / len : vec2(0.0, 1.0);
  gl_Position = vec4(mix(c0, c1, along) + n * side * u_halfWidth * 2.0 / u_px, 0.0, 1.0);
  float dt = float(seg) + along - u_time;
  // behind the current time at full strength, ahead of it at half: the direction of travel reads at a glance
  float fade = exp(-abs(dt) / u_tau) * (dt > 0.0 ? 0.5 : 1.0);
  vec3 col = int(a_class) < u_nColors ? texelFetch(u_palette, ivec2(int(a_class), 0), 0).rgb : vec3(0.5);
  v_color = vec4(col * 0.75, 0.9 * max(fade, 0.07));
  v_side = side;
}`;

export const TRAIL_FS = `#version 300 es
precision highp float;
in vec4 v_color;
in float v_side;
out vec4 outColor;
void main() {
  float a = v_color.a * (1.0 - smoothstep(0.45, 1.0, abs(v_side)));
  outColor = vec4(v_color.rgb * a, a);
}`;

// Drawn with drawElements over the points' own vertex array: gl_VertexID is the sample index and a_meta its
// per-point word (flags.js), so a sample hidden by a filter gets no mark either.
export const MARK_VS = `#version 300 es
${COMMON}
uniform int u_e0;
uniform int u_e1;
uniform float u_frac;
uniform float u_size;
in uvec4 a_meta;
void main() {
  int i = gl_VertexID;
  if ((a_meta.w & 1u) != 0u) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; return; }
  gl_Position = vec4(clipOf(mix(posAt(i, u_e0), posAt(i, u_e1), u_frac)), 0.0, 1.0);
  gl_PointSize = u_size;
}`;

export const MARK_FS = `#version 300 es
precision highp float;
out vec4 outColor;
void main() {
  vec2 p = abs(gl_PointCoord * 2.0 - 1.0);
  float m = max(p.x, p.y);
  if (m < 0.74) discard;
  outColor = vec4(0.85, 0.0, 0.55, 1.0) * 0.9;
}`;

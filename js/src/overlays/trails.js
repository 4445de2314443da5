// Trails: the selected samples' paths across every epoch, drawn behind the points in ONE instanced draw call
// from the positions already resident on the GPU, fading with distance from the drawn (interpolated) time.
// At most TRAIL_CAP samples get a trail (an even spread of a larger selection), so a huge lasso stays cheap.
// Which texture layer holds which epoch comes from a table (stream.js layerTable): in a windowed or live view
// a layer is a slot, and a segment is drawn only where both of its epochs are held.
import { bindPositions, LAYER_ROW, TRAIL_FS, TRAIL_VS } from "./glsl.js";

export const TRAIL_CAP = 2000;

/** Samples that get a trail: the visible ones of `sorted` (ascending indices), evenly thinned to `cap`. Pure. */
export function trailSamples(sorted, hidden, cap = TRAIL_CAP) {
  const visible = hidden ? sorted.filter((i) => !hidden[i]) : sorted.slice();
  if (visible.length <= cap) return Uint32Array.from(visible);
  const out = new Uint32Array(cap);
  for (let j = 0; j < cap; j++) out[j] = visible[Math.floor((j * visible.length) / cap)];
  return out;
}

/** Fade length in epochs for a timeline of nEpochs: a few epochs either side stay clearly visible. */
export function fadeLength(nEpochs) {
  return Math.max(1.2, nEpochs / 6);
}

export class TrailLayer {
  /** gl: the view's WebGL2 context; program(gl, vs, fs): the renderer's compile-and-link helper. */
  constructor(gl, program) {
    this.gl = gl;
    this.prog = program(gl, TRAIL_VS, TRAIL_FS);
    this.vao = gl.createVertexArray();
    this.buf = gl.createBuffer();
    this.count = 0;      // samples with a trail
    this.calls = 0;      // draw calls of the last frame (one, or none)
    this.time = 0;
    this.nEpochs = 0;    // epochs on the timeline (the layer table's length)
    this.segments = 0;   // segments drawable: both epochs held (read by the test hook)
    this.layerTex = gl.createTexture();
    this.setLayers(new Int32Array(0));
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf);
    const aSample = gl.getAttribLocation(this.prog.p, "a_sample");
    const aClass = gl.getAttribLocation(this.prog.p, "a_class");
    gl.enableVertexAttribArray(aSample);
    gl.vertexAttribIPointer(aSample, 1, gl.UNSIGNED_INT, 8, 0);
    gl.vertexAttribDivisor(aSample, 1);
    gl.enableVertexAttribArray(aClass);
    gl.vertexAttribIPointer(aClass, 1, gl.UNSIGNED_INT, 8, 4);
    gl.vertexAttribDivisor(aClass, 1);
    gl.bindVertexArray(null);
  }

  /** The samples to trace (Uint32Array) and the class colouring each (their labels). */
  setSamples(indices, classOf) {
    const data = new Uint32Array(indices.length * 2);
    indices.forEach((i, j) => { data[2 * j] = i; data[2 * j + 1] = classOf(i); });
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.DYNAMIC_DRAW);
    this.count = indices.length;
  }

  /** table: Int32Array, the GPU layer of each epoch index, -1 where it is not held (stream.js layerTable). */
  setLayers(table) {
    const gl = this.gl, n = Math.max(1, table.length);
    const w = Math.min(n, LAYER_ROW), rows = Math.ceil(n / LAYER_ROW);
    const data = new Int32Array(w * rows).fill(-1);
    data.set(table);
    gl.activeTexture(gl.TEXTURE2);
    gl.bindTexture(gl.TEXTURE_2D, this.layerTex);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 4);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32I, w, rows, 0, gl.RED_INTEGER, gl.INT, data);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.activeTexture(gl.TEXTURE0);
    this.nEpochs = table.length;
    this.segments = 0;
    for (let e = 0; e + 1 < table.length; e++) if (table[e] >= 0 && table[e + 1] >= 0) this.segments++;
  }

  /** Draw (g: the renderer's frame context) at time `this.time` over the held epochs of the layer table. */
  draw(g) {
    this.calls = 0;
    const nSeg = this.nEpochs - 1;
    if (!this.count || !this.segments) return;
    const gl = this.gl, u = this.prog.uni;
    gl.useProgram(this.prog.p);
    gl.bindVertexArray(this.vao);
    bindPositions(gl, u, g);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, g.palette);
    gl.uniform1i(u.u_palette, 1);
    gl.uniform1i(u.u_nColors, g.nColors);
    gl.uniform2f(u.u_px, g.px[0], g.px[1]);
    gl.uniform1f(u.u_halfWidth, 1.6 * g.dpr);
    gl.uniform1f(u.u_time, this.time);
    gl.uniform1f(u.u_tau, fadeLength(this.nEpochs));
    gl.activeTexture(gl.TEXTURE2);
    gl.bindTexture(gl.TEXTURE_2D, this.layerTex);
    gl.uniform1i(u.u_layers, 2);
    gl.drawArraysInstanced(gl.TRIANGLES, 0, 6 * nSeg, this.count);
    this.calls = 1;
    gl.bindVertexArray(null);
  }

  dispose() {
    const gl = this.gl;
    gl.deleteBuffer(this.buf);
    gl.deleteTexture(this.layerTex);
    gl.deleteVertexArray(this.vao);
    gl.deleteProgram(this.prog.p);
  }
}

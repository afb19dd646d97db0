// The products an answer cites, in citation order: number, image (when the browser can load it),
// title, price, rating, category, brand, seller (two listings with one title differ by it) and a link to the
// product page, or a note that the listing has none.
import { useState } from "react";

function ProductImage({ src }) {
  const [ok, setOk] = useState(Boolean(src));
  if (!ok) return null;
  return <img src={src} alt="" className="h-20 w-20 flex-none rounded-md object-cover" onError={() => setOk(false)} />;
}

export default function ProductCards() {
  return (
    <div className="flex flex-col gap-2 max-w-xl">
      {props.cards.map((card) => (
        <div key={card.productId} data-testid="product-card" data-product-id={card.productId}
             className="flex gap-3 rounded-lg border border-border bg-card p-3">
          <ProductImage src={card.image} />
          <div className="min-w-0 flex-1">
            <div className="text-sm font-medium leading-snug">
              <span className="text-muted-foreground">[{card.number}]</span>{" "}{card.title}
            </div>
            <div className="mt-1 flex flex-wrap items-baseline gap-x-3 gap-y-1 text-sm">
              <span data-testid="product-price" className="font-semibold text-primary">{card.price}</span>
              <span aria-hidden="true">·</span>
              <span data-testid="product-rating" className="text-muted-foreground">★ {card.rating}</span>
            </div>
            <div className="mt-1 text-xs text-muted-foreground">
              {[card.category, card.brand ? `brand ${card.brand}` : "brand not listed",
                card.seller ? `sold by ${card.seller}` : ""].filter(Boolean).join(" · ")}
              {" · "}
              {card.url ? (
                <a href={card.url} target="_blank" rel="noopener noreferrer" className="underline">
                  View on Daraz
                </a>
              ) : (
                <span>no product page listed</span>
              )}
            </div>
          </div>
        </div>
      ))}
    </div>
  );
}
